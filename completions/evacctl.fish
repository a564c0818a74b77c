# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_evacctl_global_optspecs
    string join \n os-cloud= os-region-name= config= f/format= c/column= max-width= y/yes v/verbose q/quiet log-file= log-format= journal= lock-dir= h/help V/version
end

function __fish_evacctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_evacctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_evacctl_using_subcommand
    set -l cmd (__fish_evacctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c evacctl -n "__fish_evacctl_needs_command" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_needs_command" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_needs_command" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_needs_command" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_needs_command" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_needs_command" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_needs_command" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_needs_command" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_needs_command" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_needs_command" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_needs_command" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_needs_command" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_needs_command" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_needs_command" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "check-consul" -d 'Step 0: Consul clusters, leaders and quorum, and a per-host network verdict'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "check-services" -d 'Step 1: Nova and Cinder services; which compute hosts are down and why'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "ipmi" -d 'Step 2: power state of hosts through their BMCs; fence (off) or recover (on)'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "migrate-volumes" -d 'Step 3: move a dead host\'s Cinder volumes and backups to a validated healthy host'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "evacuate" -d 'Step 4: evacuate one server from its failed host'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "host-evacuate" -d 'Step 4: evacuate every evacuable server of a failed host, after a capacity plan'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "verify" -d 'Step 5: verify that a host\'s evacuated servers run elsewhere and nothing is left behind'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "watch" -d 'The whole runbook unattended: detect, confirm, fence, isolate, move volumes, evacuate, verify'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "restore" -d 'Return a repaired host to service: unset forced-down, enable, clear its state'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "version" -d 'Print the version, git commit and build date (`-f json` for a script)'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "gen-assets" -d 'Write completions and man pages into a directory (for packaging)'
complete -c evacctl -n "__fish_evacctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l cluster -d 'Only this cluster (repeatable)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l host -d 'Only this compute host (repeatable; its Nova host name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-consul" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l host -d 'Only services of this host (repeatable)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l binary -d 'Only services with this binary, e.g. nova-compute, cinder-volume (repeatable)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand check-services" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -f -a "power" -d 'Chassis power: status, on, off, cycle'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and not __fish_seen_subcommand_from power help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -f -a "status" -d 'Show the power state of hosts\' BMCs (in parallel)'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -f -a "on" -d 'Power hosts on (asks for confirmation)'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -f -a "off" -d 'Power hosts off; with --wait, poll until the BMC confirms off (fencing)'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -f -a "cycle" -d 'Power-cycle hosts (asks for confirmation)'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from power" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from help" -f -a "power" -d 'Chassis power: status, on, off, cycle'
complete -c evacctl -n "__fish_evacctl_using_subcommand ipmi; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l to -d 'The healthy host that takes them over' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l backend -d 'Only this backend (default: every backend of FAILED_HOST)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l wait-lock -d 'When another run acts on the host, wait this long for it (e.g. 60s) before giving up with exit 14 (default: do not wait)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -l dry-run -d 'Print the plan and the commands; change nothing'
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand migrate-volumes" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l target -d 'Target host (default: the scheduler chooses)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l wait-lock -d 'When another run acts on the host, wait this long for it (e.g. 60s) before giving up with exit 14 (default: do not wait)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l no-fence-check -d 'Evacuate even when the BMC, Consul or the node-local checks say the host may be alive (it is then not fenced: its servers\' disks may be written from two places). Recorded in the journal'
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -l dry-run -d 'Print the request; change nothing'
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand evacuate" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l target -d 'Target host (repeatable; default: every other enabled, up host, the scheduler chooses)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l concurrency -d 'Evacuations in flight at once' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l wait-lock -d 'When another run acts on the host, wait this long for it (e.g. 60s) before giving up with exit 14 (default: do not wait)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l allow-partial -d 'Evacuate what fits when not everything does'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l force-down -d 'Confirm power off through the BMC, then force the service down and disable it'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l no-fence-check -d 'Evacuate even when the BMC, Consul or the node-local checks say the host may be alive (it is then not fenced: its servers\' disks may be written from two places). Recorded in the journal'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -l dry-run -d 'Print the plan and every request; change nothing'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand host-evacuate" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l timeout -d 'How long --wait waits, e.g. 90s, 10m' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -l wait -d 'Poll until everything is verified or the timeout'
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand verify" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l interval -d 'Time between cycles (default: the config\'s policy.interval)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l once -d 'Run one cycle and exit (for cron)'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l dry-run -d 'Observe and decide, change nothing'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l status -d 'Print each host\'s state and the evacuation history from the journal, then exit'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -l test-notify -d 'Send a test event through every configured notification channel and wait for the deliveries: exit 0 when all delivered, 12 (partial) naming each channel that failed'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand watch" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l max-heartbeat-age -d 'A forced-down service counts as running when its updated_at is at most this old (Nova\'s service_down_time is 60s by default)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l wait-lock -d 'When another run acts on the host, wait this long for it (e.g. 60s) before giving up with exit 14 (default: do not wait)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -l dry-run -d 'Print the checks and every request; change nothing'
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand restore" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand version" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l out -d 'Directory to write completions/ and man/ into' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l os-cloud -d 'Cloud name in clouds.yaml (as `openstack --os-cloud`)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l os-region-name -d 'Region name (overrides the cloud\'s region_name)' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l config -d 'evacctl configuration file [default: /etc/evacctl/config.toml when it exists]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -s f -l format -d 'Output format: table for people; json for scripts (stable field names); value (the cells of each row, space-separated, for shell loops) or csv, for commands that list rows' -r -f -a "table\t''
json\t''
value\t''
csv\t''"
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -s c -l column -d 'A column to show, by its table header (any case; repeatable, in this order): for table, value and csv output of commands that list rows' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l max-width -d 'Lines of tables at most N characters [default: COLUMNS, else the terminal\'s width; whole lines when stdout is not a terminal]' -r
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l log-file -d 'Also append log lines to FILE' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l log-format -d 'Log lines as text (for people) or json (one object per line, for a log shipper)' -r -f -a "text\t'Lines for people: `TIMESTAMP LEVEL message` (no timestamp under systemd)'
json\t'One JSON object per line'"
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l journal -d 'The journal of actions (JSON lines) [default: the config\'s journal.path, /var/lib/evacctl/journal.jsonl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -l lock-dir -d 'Directory of the per-host lock files that keep two runs from acting on one host at once [default: the directory of the config\'s lock.file, /run/evacctl]' -r -F
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -s y -l yes -d 'Answer yes to confirmations (required when there is no terminal to ask on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -s v -l verbose -d 'More log output on stderr: -v debug, -vv trace, -vvv trace of libraries too'
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -s q -l quiet -d 'Less log output: warnings and errors only'
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c evacctl -n "__fish_evacctl_using_subcommand gen-assets" -s V -l version -d 'Print version'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "check-consul" -d 'Step 0: Consul clusters, leaders and quorum, and a per-host network verdict'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "check-services" -d 'Step 1: Nova and Cinder services; which compute hosts are down and why'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "ipmi" -d 'Step 2: power state of hosts through their BMCs; fence (off) or recover (on)'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "migrate-volumes" -d 'Step 3: move a dead host\'s Cinder volumes and backups to a validated healthy host'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "evacuate" -d 'Step 4: evacuate one server from its failed host'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "host-evacuate" -d 'Step 4: evacuate every evacuable server of a failed host, after a capacity plan'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "verify" -d 'Step 5: verify that a host\'s evacuated servers run elsewhere and nothing is left behind'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "watch" -d 'The whole runbook unattended: detect, confirm, fence, isolate, move volumes, evacuate, verify'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "restore" -d 'Return a repaired host to service: unset forced-down, enable, clear its state'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "version" -d 'Print the version, git commit and build date (`-f json` for a script)'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "gen-assets" -d 'Write completions and man pages into a directory (for packaging)'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and not __fish_seen_subcommand_from check-consul check-services ipmi migrate-volumes evacuate host-evacuate verify watch restore version completions gen-assets help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c evacctl -n "__fish_evacctl_using_subcommand help; and __fish_seen_subcommand_from ipmi" -f -a "power" -d 'Chassis power: status, on, off, cycle'
