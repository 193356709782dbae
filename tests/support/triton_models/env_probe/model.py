"""Python-backend test model that reports what tenant code could see: its load fails with a
message listing the environment variable names, the working directory and the portal's files
it can reach from there (the attack in issue #12: model code reading the portal's secrets)."""

import os


class TritonPythonModel:
    def initialize(self, args):
        names = ",".join(sorted(os.environ))
        raise RuntimeError(f"ENV[{names}] CWD[{os.getcwd()}] FILES[{','.join(sorted(os.listdir('.')))}]")

    def execute(self, requests):  # pragma: no cover - never reached
        return []
