"""Eclipse Paho: one CONNECT (MQTT 5 or 3.1.1); prints the CONNACK's reason code, or that the broker closed unanswered."""
import json
import sys
import threading

import paho.mqtt.client as mqtt

args = json.loads(sys.argv[1])
v5 = args.get("version", 5) == 5
done = threading.Event()
result = {"event": "result", "connack": None, "reason": None, "closed": False}


def on_connect(client, userdata, flags, reason, properties=None):
    # MQTT 5: a ReasonCodes object; 3.1.1: the return code as an int.
    result["connack"] = reason.value if hasattr(reason, "value") else reason
    result["reason"] = reason.getName() if hasattr(reason, "getName") else mqtt.connack_string(reason)
    done.set()


def on_disconnect(client, userdata, reason, properties=None):
    if result["connack"] is None:
        result["closed"] = True
    done.set()


client = mqtt.Client(client_id=args.get("clientId", "connect-once"), protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
client.on_connect = on_connect
client.on_disconnect = on_disconnect
client.connect(args["host"], args["port"], keepalive=30)
client.loop_start()
ok = done.wait(10)
client.loop_stop()
print(json.dumps(result), flush=True)
client.disconnect()
sys.exit(0 if ok else 1)
