"""Run by gcloud's own Python (infra/deploy_check.py): each command of a JSON list on stdin is
executed by one in-process gcloud CLI with no credentials, so it is parsed exactly as gcloud
parses it and then stops at "no active account". Prints, per command, its exit code and error.
One process for hundreds of commands: a gcloud process per command would take ~1 s each.

Imports only the standard library and gcloud's own packages (passed as the first argument).
"""

import json
import os
import sys
import tempfile


def main() -> int:
    sdk_lib = sys.argv[1]
    sys.path[:0] = [sdk_lib, os.path.join(sdk_lib, "third_party")]
    from googlecloudsdk import gcloud_main

    cli = gcloud_main.CreateCLI([])
    results = []
    for argv in json.load(sys.stdin):
        # gcloud's log handlers hold the process's stderr: capture it at the descriptor.
        with tempfile.TemporaryFile() as captured:
            saved = os.dup(2)
            os.dup2(captured.fileno(), 2)
            try:
                cli.Execute(argv)
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException as error:
                code, _ = 1, sys.stderr.write(f"{type(error).__name__}: {error}\n")
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
            captured.seek(0)
            results.append({"argv": argv, "code": code, "error": captured.read().decode(errors="replace")[-600:]})
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
