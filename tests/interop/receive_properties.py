"""Eclipse Paho (MQTT 5) subscriber: prints {"event":"subscribed"}, then the first message's properties."""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes  # noqa: F401  (fails early on a paho without MQTT 5)

args = json.loads(sys.argv[1])
done = threading.Event()


def emit(event, **data):
    print(json.dumps({"event": event, **data}), flush=True)


def on_connect(client, userdata, flags, reason, properties):
    if reason.getName() != "Success":
        emit("error", message=f"CONNACK {reason}")
        done.set()
        return
    client.subscribe(args["topic"], qos=1)


def on_subscribe(client, userdata, mid, reasons, properties):
    emit("subscribed", reasons=[r.value for r in reasons])


def on_message(client, userdata, message):
    p = message.properties
    emit(
        "result",
        topic=message.topic,
        payload=message.payload.decode(),
        payloadFormatIndicator=getattr(p, "PayloadFormatIndicator", None),
        contentType=getattr(p, "ContentType", None),
        responseTopic=getattr(p, "ResponseTopic", None),
        correlationData=getattr(p, "CorrelationData", b"").hex() if hasattr(p, "CorrelationData") else None,
        userProperties=[list(kv) for kv in getattr(p, "UserProperty", [])],
    )
    done.set()


client = mqtt.Client(client_id="props-sub", protocol=mqtt.MQTTv5)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(args["host"], args["port"], keepalive=30)
client.loop_start()
ok = done.wait(args.get("timeoutSeconds", 20))
client.disconnect()
client.loop_stop()
sys.exit(0 if ok else 1)
