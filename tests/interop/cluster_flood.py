"""Eclipse Paho: QoS 1 publishers as fast as they can, numbered (the cluster tests' flood across nodes).

Arguments (JSON): host, port, publishers, count (per publisher), inflight (paho's window per publisher), topic (a
prefix). Every publisher sends "<index>:<n>" for n = 0..count-1 to <topic>/<index> without waiting, paho keeping
`inflight` unacknowledged, and waits for every PUBACK. Prints {"event":"result"} with how long that took.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

args = json.loads(sys.argv[1])
publishers = args.get("publishers", 8)
count = args.get("count", 4000)
inflight = args.get("inflight", 50)
topic = args.get("topic", "flood")


def connect(client_id):
    connected = threading.Event()
    client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    client.on_connect = lambda c, userdata, flags, rc: connected.set()
    client.connect(args["host"], args["port"], keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit("no CONNACK")
    return client


pubs = [connect(f"flood-pub-{i}") for i in range(publishers)]
infos = [[] for _ in range(publishers)]
started = time.time()


def run(i):
    for n in range(count):
        infos[i].append(pubs[i].publish(f"{topic}/{i}", f"{i}:{n}".encode(), qos=1))


threads = [threading.Thread(target=run, args=(i,)) for i in range(publishers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
acked = 0
for i in range(publishers):
    for info in infos[i]:
        info.wait_for_publish(60)
        acked += 1 if info.is_published() else 0
elapsed = time.time() - started
print(json.dumps({"event": "result", "sent": publishers * count, "acked": acked, "seconds": round(elapsed, 3),
                  "rate": round(publishers * count / elapsed)}), flush=True)
for c in pubs:
    c.disconnect()
    c.loop_stop()
