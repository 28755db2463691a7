"""The official `replicate` npm client (installed from the npm registry for the test) against
a running platform: run and stream."""

from __future__ import annotations

import json
import os
import subprocess

SCRIPT = """
const Replicate = require("replicate");
const replicate = new Replicate({auth: process.env.TOKEN, baseUrl: process.env.BASE + "/v1"});
(async () => {
  const output = await replicate.run(process.env.HELLO, {input: {text: "node"}});
  const tokens = [];
  for await (const event of replicate.stream(process.env.STREAMER,
                                             {input: {words: 4, delay: 0.05}})) {
    if (event.event === "output") tokens.push(event.data);
  }
  console.log(JSON.stringify({output, tokens}));
})().catch((error) => { console.error(error); process.exit(1); });
"""


def test_the_npm_client_runs_and_streams(platform, models, cast, node_client, tmp_path):
    script = tmp_path / "client.js"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "NODE_PATH": str(node_client / "node_modules"),
        "TOKEN": cast.alice.token,
        "BASE": platform.url,
        "HELLO": f"alice/hello:{models['hello'].digest}",
        "STREAMER": f"alice/streamer:{models['streamer'].digest}",
    }
    result = subprocess.run(
        ["node", str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr + result.stdout
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["output"] == "hello node"
    assert "".join(body["tokens"]) == "w0 w1 w2 w3 "
