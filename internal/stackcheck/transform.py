#!/usr/bin/env python3
"""Print template.yaml as CloudFormation receives it: after the SAM transform.

The transform adds resources the template does not spell out (a role per
function unless the function names one, with AWS managed policies such as
AWSLambdaSQSQueueExecutionRole, whose statements name every queue in the
account). internal/stackcheck's TestTransformed* checks read this output, so
the IAM that is deployed is pinned, not only the IAM that is written.

Usage: python3 internal/stackcheck/transform.py [template.yaml] > transformed.json

Needs aws-sam-translator (the samtranslator package), which cfn-lint ships
with: pip install cfn-lint. Offline: the managed-policy map is empty, so a
policy given by name fails the transform instead of calling IAM.
"""

import json
import os
import sys

INSTALL_HINT = (
    "transform.py: the Python package samtranslator is missing; "
    "install it with `pip install cfn-lint` (cfn-lint ships aws-sam-translator) "
    "or `pip install aws-sam-translator`"
)


def main(argv):
    path = argv[1] if len(argv) > 1 else "template.yaml"
    try:
        from samtranslator.parser.parser import Parser
        from samtranslator.public.exceptions import InvalidDocumentException
        from samtranslator.translator.translator import Translator
        from samtranslator.yaml_helper import yaml_parse
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 3

    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())

    # sam build replaces the local CodeUri with the uploaded artifact; the
    # transform only accepts the latter.
    for res in template.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            res.setdefault("Properties", {})["CodeUri"] = "s3://bucket/artifact.zip"

    # The ARNs the transform builds depend on the region only through the
    # partition; pin it so the output does not depend on the machine.
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    params = {
        name: p["Default"]
        for name, p in template.get("Parameters", {}).items()
        if "Default" in p
    }
    try:
        out = Translator(managed_policy_map={}, sam_parser=Parser()).translate(
            sam_template=template, parameter_values=params
        )
    except InvalidDocumentException as e:
        for cause in e.causes:
            print("transform.py: " + cause.message, file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
