"""Code that runs a prediction on a deployment, for the official clients as they are (the
same rules as apps/catalog/snippets.py: Python's base URL without /v1, Node's with it)."""

from __future__ import annotations

import json

from apps.catalog.snippets import Snippet, python_literal

ENV_LINE = "export REPLICATE_API_TOKEN=r8_...  # a token from your account page"


def _http(base_url: str, owner: str, name: str, inputs: dict) -> Snippet:
    body = json.dumps({"input": inputs}, indent=2, ensure_ascii=False)
    code = (
        f"curl --silent --show-error {base_url}/v1/deployments/{owner}/{name}/predictions \\\n"
        "  --request POST \\\n"
        '  --header "Authorization: Bearer $REPLICATE_API_TOKEN" \\\n'
        '  --header "Content-Type: application/json" \\\n'
        '  --header "Prefer: wait" \\\n'
        f"  --data @- <<'EOM'\n{body}\nEOM\n"
    )
    return Snippet("http", "HTTP (curl)", ENV_LINE, code, "")


def _python(base_url: str, owner: str, name: str, inputs: dict) -> Snippet:
    setup = (
        f"pip install replicate\n{ENV_LINE}\n"
        f"export REPLICATE_BASE_URL={base_url}  # no /v1: the client adds it"
    )
    code = (
        "import replicate\n\n"
        f'deployment = replicate.deployments.get("{owner}/{name}")\n'
        f"prediction = deployment.predictions.create(\n    input={python_literal(inputs, 1)},\n)\n"
        "prediction.wait()\n"
        "print(prediction.status, prediction.output)\n"
    )
    return Snippet("python", "Python", setup, code, "run.py")


def _node(base_url: str, owner: str, name: str, inputs: dict) -> Snippet:
    code = (
        'import Replicate from "replicate";\n\n'
        "const replicate = new Replicate({\n"
        "  auth: process.env.REPLICATE_API_TOKEN,\n"
        f'  baseUrl: "{base_url}/v1",\n'
        "});\n\n"
        f"const input = {json.dumps(inputs, indent=2, ensure_ascii=False)};\n\n"
        "let prediction = await replicate.deployments.predictions.create(\n"
        f'  "{owner}",\n  "{name}",\n  {{ input }},\n);\n'
        "prediction = await replicate.wait(prediction);\n"
        "console.log(prediction.status, prediction.output);\n"
    )
    return Snippet("node", "Node.js", f"npm install replicate\n{ENV_LINE}", code, "run.mjs")


def deployment_snippets(*, base_url: str, owner: str, name: str, inputs: dict) -> list[Snippet]:
    """curl, Python and Node.js code that runs a prediction on `owner/name`."""
    base_url = base_url.rstrip("/")
    return [
        _http(base_url, owner, name, inputs),
        _python(base_url, owner, name, inputs),
        _node(base_url, owner, name, inputs),
    ]
