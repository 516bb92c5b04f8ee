"""Eclipse Paho (MQTT 5) takeover: a second client with the same id; prints the reason the first got."""
import json
import sys
import threading

import paho.mqtt.client as mqtt

args = json.loads(sys.argv[1])
client_id = args.get("clientId", "takeover-paho")
first_connected = threading.Event()
first_disconnected = threading.Event()
second_connected = threading.Event()
seen = {}


def first_on_connect(client, userdata, flags, reason, properties):
    first_connected.set()


def first_on_disconnect(client, userdata, reason, properties=None):
    # paho calls this once for the broker's DISCONNECT (a ReasonCodes object) and may call it again
    # for the closed socket (MQTT_ERR_CONN_LOST, a plain int): keep every call, report the first.
    seen.setdefault("all", []).append(reason.value if hasattr(reason, "value") else reason)
    first_disconnected.set()


first = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
first.on_connect = first_on_connect
first.on_disconnect = first_on_disconnect
first.connect(args["host"], args["port"], keepalive=30)
first.loop_start()
if not first_connected.wait(10):
    print(json.dumps({"event": "error", "message": "first client did not connect"}), flush=True)
    sys.exit(1)

second = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
second.on_connect = lambda c, u, f, r, p: second_connected.set()
second.connect(args["host"], args["port"], keepalive=30)
second.loop_start()
ok = second_connected.wait(10) and first_disconnected.wait(10)
first.loop_stop()
print(json.dumps({"event": "result", "disconnectReason": (seen.get("all") or [None])[0], "allDisconnectCalls": seen.get("all"), "secondConnected": second_connected.is_set()}), flush=True)
second.disconnect()
second.loop_stop()
sys.exit(0 if ok else 1)
