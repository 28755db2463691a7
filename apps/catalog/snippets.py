"""Ready-to-run code for the API tab, written for the official clients as they are:

- the Python client (`replicate` 1.x) reads `REPLICATE_BASE_URL` *without* `/v1` (it adds the
  prefix itself); the Node client's `baseUrl` option *includes* `/v1`;
- both turn `https:` (and `data:`) output URLs into file objects, but leave `http:` URLs as
  plain strings, so a platform served over plain http gets snippets that fetch the URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from apps.catalog.inputs import OutputShape


@dataclass(frozen=True)
class Snippet:
    key: str
    label: str
    setup: str  # shell lines: install the client, set the environment
    code: str
    filename: str


def python_literal(value, level: int = 0) -> str:
    """`value` (JSON data) as Python source, one item per line like a formatter would."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    pad, end = "    " * (level + 1), "    " * level
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = "".join(
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {python_literal(v, level + 1)},\n"
            for k, v in value.items()
        )
        return "{\n" + items + end + "}"
    if not value:
        return "[]"
    items = "".join(f"{pad}{python_literal(v, level + 1)},\n" for v in value)
    return "[\n" + items + end + "]"


def _python(base_url: str, ref: str, inputs: dict, shape: OutputShape) -> Snippet:
    setup = (
        "pip install replicate\n"
        "export REPLICATE_API_TOKEN=r8_...  # a token from your account page\n"
        f"export REPLICATE_BASE_URL={base_url}  # no /v1: the client adds it"
    )
    call = f'(\n    "{ref}",\n    input={python_literal(inputs, 1)},\n)'
    name = f"output{shape.extension}"
    many_name = f'f"output_{{index}}{shape.extension}"'
    plain_http = not base_url.startswith("https:")
    header = "import replicate\n"
    if shape.files and plain_http:
        header = "import urllib.request\n\n" + header
    if shape.streams_text:
        body = f'for event in replicate.stream{call}:\n    print(str(event), end="")\n'
    elif not shape.files:
        body = f"output = replicate.run{call}\nprint(output)\n"
    elif plain_http:
        note = "# Over http:// the client returns output files as URLs.\n"
        if shape.many:
            save = (
                f"for index, url in enumerate(output):\n"
                f"    urllib.request.urlretrieve(url, {many_name})\n"
            )
        else:
            save = f'urllib.request.urlretrieve(output, "{name}")\n'
        body = f"output = replicate.run{call}\n{note}{save}"
    elif shape.many:
        body = (
            f"output = replicate.run{call}\n"
            f"for index, item in enumerate(output):\n"
            f'    with open({many_name}, "wb") as file:\n'
            f"        file.write(item.read())\n"
        )
    else:
        body = (
            f"output = replicate.run{call}\n"
            f'with open("{name}", "wb") as file:\n'
            f"    file.write(output.read())\n"
        )
    return Snippet("python", "Python", setup, f"{header}\n{body}", "run.py")


def _node(base_url: str, ref: str, inputs: dict, shape: OutputShape) -> Snippet:
    setup = (
        "npm install replicate\nexport REPLICATE_API_TOKEN=r8_...  # a token from your account page"
    )
    header = 'import Replicate from "replicate";\n'
    if shape.files:
        header = 'import { writeFile } from "node:fs/promises";\n' + header
    client = (
        "const replicate = new Replicate({\n"
        "  auth: process.env.REPLICATE_API_TOKEN,\n"
        f'  baseUrl: "{base_url}/v1",\n'
        "});\n"
    )
    given = f"const input = {json.dumps(inputs, indent=2, ensure_ascii=False)};\n"
    name = f"output{shape.extension}"
    many_name = f"`output_${{index}}{shape.extension}`"
    if shape.streams_text:
        body = (
            f'for await (const event of replicate.stream("{ref}", {{ input }})) {{\n'
            "  process.stdout.write(`${event}`);\n"
            "}\n"
        )
    else:
        body = f'const output = await replicate.run("{ref}", {{ input }});\n'
        if not shape.files:
            body += "console.log(output);\n"
        elif base_url.startswith("https:"):
            body += (
                "for (const [index, item] of output.entries()) {\n"
                f"  await writeFile({many_name}, item);\n"
                "}\n"
                if shape.many
                else f'await writeFile("{name}", output);\n'
            )
        else:
            fetch = "Buffer.from(await (await fetch({})).arrayBuffer())"
            body += "// Over http:// the client returns output files as URLs.\n" + (
                "for (const [index, url] of output.entries()) {\n"
                f"  await writeFile({many_name}, {fetch.format('url')});\n"
                "}\n"
                if shape.many
                else f'await writeFile("{name}", {fetch.format("output")});\n'
            )
    code = f"{header}\n{client}\n{given}\n{body}"
    return Snippet("node", "Node.js", setup, code, "run.mjs")


def _http(base_url: str, ref: str, inputs: dict, shape: OutputShape) -> Snippet:
    setup = "export REPLICATE_API_TOKEN=r8_...  # a token from your account page"
    body = json.dumps({"version": ref, "input": inputs}, indent=2, ensure_ascii=False)
    # A quoted here-document: the shell leaves the JSON alone, quotes and all.
    code = (
        f"curl --silent --show-error {base_url}/v1/predictions \\\n"
        "  --request POST \\\n"
        '  --header "Authorization: Bearer $REPLICATE_API_TOKEN" \\\n'
        '  --header "Content-Type: application/json" \\\n'
        + ("" if shape.streams_text else '  --header "Prefer: wait" \\\n')
        + f"  --data @- <<'EOM'\n{body}\nEOM\n"
    )
    if shape.streams_text:
        code += (
            "\n# The response's urls.stream sends the output as it is made (Server-Sent Events):\n"
            'curl --no-buffer --header "Accept: text/event-stream" "<urls.stream>"\n'
        )
    return Snippet("http", "HTTP", setup, code, "")


def api_snippets(*, base_url: str, ref: str, inputs: dict, shape: OutputShape) -> list[Snippet]:
    """Python, Node.js and HTTP snippets that run `ref` (`owner/name:version`) on `base_url`."""
    base_url = base_url.rstrip("/")
    return [
        _python(base_url, ref, inputs, shape),
        _node(base_url, ref, inputs, shape),
        _http(base_url, ref, inputs, shape),
    ]
