//! One module per subcommand, each a thin `run()` over library code.
