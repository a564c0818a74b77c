#!/usr/bin/env python3
"""A fake BMC on pyghmi (the IPMI library virtualbmc uses): IPMI 2.0 / RMCP+ on 127.0.0.1.

Usage: pyghmi_bmc.py PORT STATE_FILE
The user is BMC_USER (default "admin"); the password is read from the environment variable
BMC_PASSWORD, never from the command line (a test checks that no process shows it).
The power state lives in memory and is written to STATE_FILE ("on"/"off") on every change.
"""
import os
import sys

import pyghmi.ipmi.bmc as bmc


class FakeBmc(bmc.Bmc):
    def __init__(self, authdata, port, state_file):
        super().__init__(authdata, port=port, address='127.0.0.1')
        self.state_file = state_file
        self.set_power('on')

    def set_power(self, state):
        self.powerstate = state
        with open(self.state_file, 'w') as f:
            f.write(state + '\n')

    def get_power_state(self):
        return self.powerstate

    def power_off(self):
        self.set_power('off')

    def power_on(self):
        self.set_power('on')

    def power_cycle(self):
        # A cycle ends powered on, as on real BMCs.
        self.set_power('on')

    def power_reset(self):
        pass

    def power_shutdown(self):
        self.set_power('off')


def main():
    port, state_file = int(sys.argv[1]), sys.argv[2]
    user = os.environ.get('BMC_USER', 'admin')
    FakeBmc({user: os.environ['BMC_PASSWORD']}, port, state_file).listen()


if __name__ == '__main__':
    sys.exit(main())
