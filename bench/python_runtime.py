"""A minimal Python Lambda runtime loop, for running a peer tool's Python handler under the same
local Runtime API as our functions: import the handler (init), then GET the next event, call the
handler, POST its result — what AWS's Python runtime does for every invocation. (The runtime
interface client from PyPI, awslambdaric, crashed with SIGSEGV on this machine, so the bench uses
this instead; its own overhead is a few milliseconds of urllib.)

Usage: python python_runtime.py module.function   (AWS_LAMBDA_RUNTIME_API set, cwd = the package)
"""

import importlib
import json
import os
import sys
import traceback
import urllib.request

sys.path.insert(0, os.getcwd())
module, function = sys.argv[1].rsplit(".", 1)
handler = getattr(importlib.import_module(module), function)
api = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))


while True:
    with urllib.request.urlopen(f"{api}/next") as r:
        event, context = json.loads(r.read()), Context(r.headers)
    try:
        result, outcome = json.dumps(handler(event, context), default=str).encode(), "response"
    except Exception as e:  # the runtime reports a handler error, as Lambda's does
        result = json.dumps({"errorMessage": str(e), "errorType": type(e).__name__,
                             "stackTrace": traceback.format_exc().splitlines()}).encode()
        outcome = "error"
    urllib.request.urlopen(urllib.request.Request(f"{api}/{context.aws_request_id}/{outcome}", data=result, method="POST"))
