"""Load test of t2t-serve on loopback, against CTranslate2 called directly (the ceiling).

For each concurrency level (--concurrency), N clients send one-sentence translate
requests back to back over keep-alive connections, drawing from a realistic mix of
sentence lengths (one to four sentences of --sources joined: half single sentences, a few
four times as long); each level sends --requests requests in all. Three setups, run back
to back at each level in an order that rotates over levels and --rounds (the machine is
shared; alternating spreads its slow phases over all of them):

  direct      ctranslate2.Translator.translate_batch in this process, on the same
              sentences in batches of the level's size (1 at one client)
  batched     t2t-serve --engine=ctranslate2 --max_batch_size=16 --max_batch_delay_ms=D
  unbatched   t2t-serve --engine=ctranslate2 --max_batch_size=1

It prints, per setup and level, the median over rounds of throughput (sentences/s,
output tokens/s), p50/p95/p99 latency (ms; direct: per translate_batch call) and CPU time
per sentence (the server process's, from /proc; direct: this process's), and the ratios
the serving guide asks for. On a shared machine the CPU times are the steadier measure: a
process that decodes without pause (direct) gets a smaller share of a busy CPU than one
that sleeps between requests (the server), which flatters the server's wall times.

--sigterm also sends SIGTERM to a batched server in the middle of a 16-client load and
checks that every request the server accepted was answered.

  python bench/serve_load.py --export_dir=runs/enxx/ct2 --sources=test.src --rounds=3

Bounded: --requests per level, --budget_s for the whole run (no round starts past it);
loopback only.
"""
import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def sentence_mix(sources, count, seed=0):
  """`count` inputs: 1-4 source sentences joined, with weights 50/30/15/5 %."""
  rng = random.Random(seed)
  return [" ".join(rng.choice(sources) for _ in range(
      rng.choices((1, 2, 3, 4), weights=(50, 30, 15, 5))[0])) for _ in range(count)]


def percentile(values, q):
  values = sorted(values)
  return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


class Client:
  """One keep-alive HTTP/1.1 connection: the least client work per request, so the
  measurement is the server's."""

  def __init__(self, port):
    self.port = port
    self.reader = self.writer = None

  async def post(self, path, body):
    if self.writer is None:
      self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
    self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      f"application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                      + body)
    head = await self.reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip()
               for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    data = await self.reader.readexactly(int(headers.get("content-length", 0)))
    if headers.get("connection", "").lower() == "close":
      self.close()
    return status, data

  def close(self):
    if self.writer is not None:
      self.writer.close()
    self.reader = self.writer = None


async def load(port, inputs, clients):
  """Sends every input once from `clients` concurrent clients; returns (seconds,
  [latency s], [answer or exception])."""
  queue = list(enumerate(inputs))[::-1]
  latencies, answers = [], [None] * len(inputs)

  async def client():
    c = Client(port)
    while queue:
      i, text = queue.pop()
      start = time.perf_counter()
      try:
        status, data = await c.post("/v1/translate", json.dumps({"text": text}).encode())
        answers[i] = (status, data)
        if status == 200:
          latencies.append(time.perf_counter() - start)
      except (OSError, asyncio.IncompleteReadError) as e:
        answers[i] = e
        c.close()
    c.close()
  start = time.perf_counter()
  await asyncio.gather(*(client() for _ in range(clients)))
  return time.perf_counter() - start, latencies, answers


def start_server(args, port, batch_size):
  command = [os.path.join(os.path.dirname(sys.executable), "t2t-serve"),
             "--engine=ctranslate2", f"--export_dir={args.export_dir}", f"--port={port}",
             f"--max_batch_size={batch_size}", f"--max_batch_delay_ms={args.delay_ms}",
             f"--intra_threads={args.threads}", "--max_queue=4096"]
  proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  for line in proc.stdout:
    if "t2t-serve: ready" in line:
      return proc
    if "t2t-serve: error" in line:
      raise SystemExit(line)
  raise SystemExit(f"t2t-serve exited with {proc.wait()}")


def stop_server(proc):
  proc.send_signal(signal.SIGTERM)
  rest = proc.communicate(timeout=120)[0]
  return proc.returncode, rest


def output_tokens(answers):
  return sum(len(json.loads(a[1])["outputs"][0].split()) for a in answers
             if isinstance(a, tuple) and a[0] == 200)


def cpu_seconds(pid):
  """User + system CPU time of a process and its threads (from /proc)."""
  with open(f"/proc/{pid}/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_server_level(port, inputs, clients, pid):
  cpu = cpu_seconds(pid)
  seconds, latencies, answers = asyncio.run(load(port, inputs, clients))
  cpu = cpu_seconds(pid) - cpu
  ok = sum(isinstance(a, tuple) and a[0] == 200 for a in answers)
  if ok != len(inputs):
    raise SystemExit(f"{len(inputs) - ok} of {len(inputs)} requests failed: "
                     f"{next(a for a in answers if not (isinstance(a, tuple) and a[0] == 200))}")
  return {"sentences_s": len(inputs) / seconds,
          "tokens_s": output_tokens(answers) / seconds, **_latency(latencies),
          "cpu_ms": 1000 * cpu / len(inputs)}


def _latency(latencies):
  return {f"p{q}_ms": 1000 * percentile(latencies, q) for q in (50, 95, 99)}


def run_direct_level(translator, tokenizer, inputs, batch_size):
  """CTranslate2's translate_batch on the same inputs, tokenized and detokenized as the
  server does, batch_size sentences per call."""
  latencies, tokens = [], 0
  start, cpu = time.perf_counter(), time.process_time()
  for i in range(0, len(inputs), batch_size):
    call = time.perf_counter()
    batch = [tokenizer.encode(t) for t in inputs[i:i + batch_size]]
    results = translator.translate_batch(batch, beam_size=1, max_decoding_length=256)
    outputs = [tokenizer.decode(r.hypotheses[0]) for r in results]
    latencies.append(time.perf_counter() - call)
    tokens += sum(len(o.split()) for o in outputs)
  seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
  return {"sentences_s": len(inputs) / seconds, "tokens_s": tokens / seconds,
          **_latency(latencies), "cpu_ms": 1000 * cpu / len(inputs)}


def sigterm_under_load(args, inputs):
  """SIGTERM to a batched server halfway through a 16-client load: every request the
  server accepted must come back answered, and the server must exit 0."""
  port = free_port()
  proc = start_server(args, port, 16)

  async def scenario():
    task = asyncio.ensure_future(load(port, inputs, 16))
    await asyncio.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    return await task
  _, _, answers = asyncio.run(scenario())
  code = proc.wait(timeout=120)
  log = proc.stdout.read()
  answered = sum(isinstance(a, tuple) for a in answers)
  refused = sum(isinstance(a, Exception) for a in answers)
  drained = re.search(r"drained: (\d+) of (\d+) accepted requests answered", log)
  accepted = int(drained.group(2)) if drained else None
  return {"exit_status": code, "server_accepted": accepted,
          "server_answered": int(drained.group(1)) if drained else None,
          "client_answers": answered, "not_accepted_after_sigterm": refused,
          "every_accepted_request_answered": code == 0 and accepted == answered}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--export_dir", required=True, help="a CTranslate2 export")
  parser.add_argument("--sources", required=True, help="source sentences, one per line")
  parser.add_argument("--concurrency", default="1,4,16")
  parser.add_argument("--requests", type=int, default=400, help="requests per level")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--threads", type=int, default=2, help="CTranslate2 intra_threads")
  parser.add_argument("--delay_ms", type=float, default=2.0,
                      help="the batched server's --max_batch_delay_ms")
  parser.add_argument("--budget_s", type=float, default=1800)
  parser.add_argument("--sigterm", action="store_true")
  parser.add_argument("--out", help="also write the results as JSON here")
  args = parser.parse_args()
  import ctranslate2

  sys.path.insert(0, os.path.dirname(HERE))
  from t2t_lite.serving.ctranslate2_engine import Tokenizer
  with open(os.path.join(args.export_dir, "t2t_lite.json")) as f:
    meta = json.load(f)
  tokenizer = Tokenizer(args.export_dir, meta["tokenizers"]["targets"])
  sources = [line.strip() for line in open(args.sources) if line.strip()]
  levels = [int(c) for c in args.concurrency.split(",")]
  inputs = sentence_mix(sources, args.requests)
  began = time.time()
  results = {}  # (setup, level) -> [round results]
  setups = ["direct", "batched", "unbatched"]
  translator = ctranslate2.Translator(args.export_dir, device="cpu",
                                      intra_threads=args.threads, inter_threads=1)
  translator.translate_batch([tokenizer.encode(sources[0])])  # warm up
  for r in range(args.rounds):
    if r and time.time() - began > args.budget_s * (r / (r + 1)):
      print(f"stopping after {r} round(s): --budget_s", flush=True)
      break
    # Both servers stay up for the round; each level runs the three setups back to back,
    # in an order that rotates, so a slow phase of the shared machine hits all of them.
    servers = {"batched": start_server(args, free_port(), 16),
               "unbatched": start_server(args, free_port(), 1)}
    try:
      for i, level in enumerate(levels):
        order = setups[(r + i) % 3:] + setups[:(r + i) % 3]
        for setup in order:
          if setup == "direct":
            row = run_direct_level(translator, tokenizer, inputs, level)
          else:
            port = int(next(a.split("=")[1] for a in servers[setup].args
                            if a.startswith("--port=")))
            row = run_server_level(port, inputs, level, servers[setup].pid)
          results.setdefault((setup, level), []).append(row)
    finally:  # no server outlives the bench, even when a level fails
      for proc in servers.values():
        code, _ = stop_server(proc)
        assert code == 0, code
    print(f"round {r + 1} done ({time.time() - began:.0f} s)", flush=True)
  table = {f"{s}@{c}": {k: statistics.median(x[k] for x in v) for k in v[0]}
           for (s, c), v in results.items()}
  print("| setup | clients | sentences/s | tokens/s | p50 ms | p95 ms | p99 ms | CPU ms/sentence |")
  print("|---|---|---|---|---|---|---|---|")
  for setup in setups:
    for level in levels:
      row = table.get(f"{setup}@{level}")
      if row:
        print(f"| {setup} | {level} | {row['sentences_s']:.1f} | {row['tokens_s']:.0f} | "
              f"{row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['p99_ms']:.1f} | "
              f"{row['cpu_ms']:.2f} |")
  top = max(levels)
  if f"batched@{top}" in table:
    print(f"batched at {top} clients / direct batch {top}: "
          f"{table[f'batched@{top}']['sentences_s'] / table[f'direct@{top}']['sentences_s']:.1%}"
          " of the throughput")
  if "batched@1" in table:
    print(f"p99 at 1 client, batched / direct single call: "
          f"{table['batched@1']['p99_ms'] / table['direct@1']['p99_ms']:.2f}x; unbatched: "
          f"{table['unbatched@1']['p99_ms'] / table['direct@1']['p99_ms']:.2f}x")
  if f"batched@{top}" in table:
    print(f"CPU per sentence, batched server at {top} clients / direct batch {top}: "
          f"{table[f'batched@{top}']['cpu_ms'] / table[f'direct@{top}']['cpu_ms']:.2f}x; "
          "at 1 client, batched / direct: "
          f"{table['batched@1']['cpu_ms'] / table['direct@1']['cpu_ms']:.2f}x")
  if args.sigterm:
    table["sigterm"] = sigterm_under_load(args, sentence_mix(sources, 600, seed=1))
    print(f"SIGTERM under load: {table['sigterm']}")
  if args.out:
    with open(args.out, "w") as f:
      json.dump(table, f, indent=2)


if __name__ == "__main__":
  main()
