"""Convo's /v1 routes driven by the official `openai` Python SDK.

Run by scripts/openai_sdk.sh, which starts a convo-server (memory store,
mock model), registers two users and gives this script, in the environment:
CONVO_BASE (the server), CONVO_TOKEN (the first user's bearer token),
CONVO_AGENT and CONVO_SESSION (the first user's agent and a chat session of
it), CONVO_OTHER_AGENT (the second user's agent) and CONVO_TOOL_AGENT (the
first user's agent on the fake model server, whose tool calls are scripted
with a `[[convo-fake:{…}]]` directive in the user message). Exits non-zero
on the first failure.
"""

import json
import os
import sys
import urllib.request

import openai

BASE = os.environ["CONVO_BASE"]
TOKEN = os.environ["CONVO_TOKEN"]
AGENT = os.environ["CONVO_AGENT"]
SESSION = os.environ["CONVO_SESSION"]
OTHER_AGENT = os.environ["CONVO_OTHER_AGENT"]
TOOL_AGENT = os.environ["CONVO_TOOL_AGENT"]

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
# The fake model calls get_weather once, then answers in text.
CALL_ONCE = '[[convo-fake:{"function_calls":[{"name":"get_weather","args":{"city":"Paris"}}]}]]'


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok - {what}")


def stored_messages():
    req = urllib.request.Request(
        f"{BASE}/api/chat/{SESSION}/messages?limit=100",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(req) as resp:
        return [m["content"] for m in json.load(resp)["data"]]


def main():
    client = openai.OpenAI(base_url=f"{BASE}/v1", api_key=TOKEN, max_retries=0)

    models = [m.id for m in client.models.list()]
    check(AGENT in models, "models.list contains the caller's agent")
    check(OTHER_AGENT not in models, "models.list leaves out another user's agent")

    reply = client.chat.completions.create(
        model=AGENT,
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "hello"},
        ],
        temperature=0.5,
        max_tokens=100,
    )
    check(reply.object == "chat.completion", "a completion is a chat.completion")
    check(reply.id.startswith("chatcmpl-"), "its id starts with chatcmpl-")
    check(reply.choices[0].message.content == "echo: hello", "it is the mock's echo")
    check(reply.choices[0].finish_reason == "stop", "finish_reason stop")
    check(reply.usage is not None and reply.usage.total_tokens > 0, "it reports usage")

    stream = client.chat.completions.create(
        model=AGENT,
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    check(len(chunks) >= 3, f"a stream yields chunks ({len(chunks)})")
    check(text == "echo: stream me", "the chunks add up to the echo")
    check(finishes == ["stop"], "one chunk finishes with stop")
    last = chunks[-1]
    check(not last.choices and last.usage is not None and last.usage.total_tokens > 0,
          "the last chunk carries usage")

    turn = client.chat.completions.create(
        model=AGENT,
        messages=[{"role": "user", "content": "remember me"}],
        extra_headers={"x-convo-session": SESSION},
    )
    check(turn.choices[0].message.content == "echo: remember me", "a session turn answers")
    check(stored_messages() == ["remember me", "echo: remember me"],
          "x-convo-session stores the turn")

    try:
        client.chat.completions.create(
            model=OTHER_AGENT, messages=[{"role": "user", "content": "hi"}]
        )
        check(False, "another user's agent is refused")
    except openai.NotFoundError as e:
        check(e.status_code == 404 and e.code == "model_not_found",
              "another user's agent raises NotFoundError (model_not_found)")

    try:
        client.chat.completions.create(
            model=AGENT, messages=[{"role": "assistant", "content": "no question"}]
        )
        check(False, "a conversation ending with the assistant is refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400, "an invalid conversation raises BadRequestError")

    try:
        client.chat.completions.create(
            model=AGENT, messages=[{"role": "user", "content": "two answers"}], n=2
        )
        check(False, "n=2 is refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.param == "n" and e.code == "unsupported_parameter",
              "n=2 raises BadRequestError naming param n (unsupported_parameter)")

    tools(client)

    anonymous = openai.OpenAI(base_url=f"{BASE}/v1", api_key="not-a-token", max_retries=0)
    try:
        anonymous.models.list()
        check(False, "a client without a valid key is refused")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, "a client without a valid key raises AuthenticationError")


def tools(client):
    """A tool call parsed by the SDK, its result sent back, and the same call streamed."""
    question = {"role": "user", "content": f"Weather in Paris? {CALL_ONCE}"}
    reply = client.chat.completions.create(model=TOOL_AGENT, messages=[question], tools=[WEATHER])
    choice = reply.choices[0]
    calls = choice.message.tool_calls or []
    check(choice.finish_reason == "tool_calls", "a tool call finishes with tool_calls")
    check(len(calls) == 1 and calls[0].type == "function"
          and calls[0].function.name == "get_weather"
          and json.loads(calls[0].function.arguments) == {"city": "Paris"},
          "the SDK parses message.tool_calls with its JSON arguments")

    answered = client.chat.completions.create(
        model=TOOL_AGENT,
        tools=[WEATHER],
        messages=[
            question,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": '{"sky": "clear"}'},
        ],
    )
    check(answered.choices[0].finish_reason == "stop"
          and "clear" in (answered.choices[0].message.content or ""),
          "the call sent back with its result is answered in text")

    stream = client.chat.completions.create(
        model=TOOL_AGENT, messages=[question], tools=[WEATHER], stream=True
    )
    streamed = {}
    finishes = []
    for chunk in stream:
        if not chunk.choices:
            continue
        for fragment in chunk.choices[0].delta.tool_calls or []:
            call = streamed.setdefault(fragment.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = fragment.id or call["id"]
            if fragment.function:
                call["name"] += fragment.function.name or ""
                call["arguments"] += fragment.function.arguments or ""
        if chunk.choices[0].finish_reason:
            finishes.append(chunk.choices[0].finish_reason)
    check(list(streamed) == [0] and streamed[0]["name"] == "get_weather"
          and json.loads(streamed[0]["arguments"]) == {"city": "Paris"} and streamed[0]["id"],
          "streamed delta.tool_calls assemble into the call")
    check(finishes == ["tool_calls"], "the stream finishes with tool_calls")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # any failure, assertion or SDK error, fails the run
        print(f"not ok - {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"openai {openai.__version__}: all checks passed")
