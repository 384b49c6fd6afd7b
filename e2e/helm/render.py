#!/usr/bin/env python3
"""Renders and lints a Helm chart with Helm's own engine (helm-python-sdk), for the Rust tests
in e2e/tests/chart.rs. Prints one JSON document on stdout.

    render.py version
    render.py lint CHART [--values JSON] [--namespace NS]
    render.py render CHART [--values JSON] [--name NAME] [--namespace NS]
    render.py parse FILE...

`render` does what `helm template` does: validate the values against values.schema.json, then
render every template. Its output is {"manifests": [{"template", "object"}], "notes": TEXT}, each
YAML document parsed by Helm's YAML parser (the one Kubernetes uses), or {"error": {"type",
"message"}}. `lint` is `helm lint --strict`. `parse` reads YAML files the same way.
"""

import argparse
import json
import re
import sys

try:
    import helm_python as helm
except ImportError:
    print(
        json.dumps(
            {
                "error": {
                    "type": "MissingSdk",
                    "message": "helm-python-sdk is not installed in this Python "
                    f"({sys.executable}): run scripts/helm-venv",
                }
            }
        )
    )
    sys.exit(3)

DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def parse_documents(text):
    """YAML documents of a stream, parsed; comment-only and empty documents are skipped."""
    objects = []
    for document in DOCUMENT_SEPARATOR.split(text):
        meaningful = [
            line
            for line in document.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if meaningful:
            objects.append(helm.values_from_yaml(document))
    return objects


def error(exc):
    return {"error": {"type": type(exc).__name__, "message": str(exc)}}


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version")
    lint = sub.add_parser("lint")
    lint.add_argument("chart")
    lint.add_argument("--values", default="{}")
    lint.add_argument("--namespace", default="sluice-system")
    render = sub.add_parser("render")
    render.add_argument("chart")
    render.add_argument("--values", default="{}")
    render.add_argument("--name", default="sluice")
    render.add_argument("--namespace", default="sluice-system")
    parse = sub.add_parser("parse")
    parse.add_argument("files", nargs="+")
    args = parser.parse_args()

    if args.command == "version":
        out = {"sdk": helm.__version__, "helm": helm.helm_sdk_version()}
    elif args.command == "lint":
        try:
            out = helm.lint(
                args.chart,
                json.loads(args.values),
                strict=True,
                namespace=args.namespace,
            )
        except helm.HelmError as exc:
            out = error(exc)
    elif args.command == "render":
        values = json.loads(args.values)
        try:
            with helm.Chart.load(args.chart) as chart:
                chart.validate_schema(values)
                rendered = chart.render(
                    values, name=args.name, namespace=args.namespace, is_install=True
                )
            manifests, notes = [], ""
            for template in sorted(rendered):
                if template.endswith("NOTES.txt"):
                    notes = rendered[template]
                    continue
                for obj in parse_documents(rendered[template]):
                    manifests.append({"template": template, "object": obj})
            out = {"manifests": manifests, "notes": notes}
        except helm.HelmError as exc:
            out = error(exc)
    else:
        out = {
            "documents": {
                path: parse_documents(open(path, encoding="utf-8").read())
                for path in args.files
            }
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
