"""Keep one change-preview comment on a pull request (GitHub) or merge request (GitLab): update the comment
this script left before, found by its first line, or post it the first time. Python's standard library
only (it runs after the job, whatever was installed).

    python3 ci/preview_comment.py github|gitlab reports/preview.md

GitHub: $GH_TOKEN, $PR, $GITHUB_REPOSITORY, $GITHUB_API_URL. GitLab: $AIFACTORY_BOT_TOKEN, $CI_API_V4_URL,
$CI_PROJECT_ID, $CI_MERGE_REQUEST_IID. An empty preview, or no token, leaves the comments alone.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

MARKER = "<!-- aifactory change preview -->"


def call(method: str, url: str, headers: dict, body: dict | None = None):
    """One API call: its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - the CI's own API URL
        return json.loads(answer.read() or b"null")


def forge(kind: str) -> tuple[str, dict, str]:
    """(the comments URL, the auth headers, the method that updates one) of the change's forge."""
    env = os.environ
    if kind == "github":
        api = env.get("GITHUB_API_URL", "https://api.github.com")
        return (f"{api}/repos/{env['GITHUB_REPOSITORY']}/issues/{env['PR']}/comments",
                {"Authorization": f"Bearer {env['GH_TOKEN']}", "Accept": "application/vnd.github+json"}, "PATCH")
    return (f"{env['CI_API_V4_URL']}/projects/{env['CI_PROJECT_ID']}/merge_requests/{env['CI_MERGE_REQUEST_IID']}/notes",
            {"PRIVATE-TOKEN": env["AIFACTORY_BOT_TOKEN"]}, "PUT")


def ours(comments_url: str, headers: dict, kind: str) -> str | None:
    """The URL of the comment this script left before, or None."""
    page = 1
    while True:
        comments = call("GET", f"{comments_url}?per_page=100&page={page}", headers)
        for comment in comments:
            if comment.get("body", "").startswith(MARKER):
                return comment["url"] if kind == "github" else f"{comments_url}/{comment['id']}"
        if len(comments) < 100:
            return None
        page += 1


def main(kind: str, preview: str) -> int:
    text = Path(preview).read_text() if Path(preview).is_file() else ""
    token = os.environ.get("GH_TOKEN" if kind == "github" else "AIFACTORY_BOT_TOKEN")
    if not text.strip() or not token:
        return 0
    comments_url, headers, update = forge(kind)
    body = {"body": f"{MARKER}\n{text}"}
    existing = ours(comments_url, headers, kind)
    if existing:
        call(update, existing, headers, body)
    else:
        call("POST", comments_url, headers, body)
    print("change preview comment " + ("updated" if existing else "posted"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("github", "gitlab"):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
