#!/usr/bin/python3
"""paho_client.py PORT [retry|qos2]: the client side of mqtt_clients.c's
paho tests.

Run with Debian's /usr/bin/python3 (python3-paho-mqtt 1.6). Connects to
the test's codec-only broker on 127.0.0.1:PORT with a persistent session,
credentials, a will and a 1 s keepalive; subscribes to two filters (the
broker grants 1 and refuses the second with 0x80); publishes two binary
bytes at QoS 2; takes a QoS 1 delivery; unsubscribes; and leaves when the
broker publishes to "done". Prints "paho ok" and exits 0 when every step
saw what the broker is meant to send, else prints the step and exits 1.

With "retry": a persistent session whose first connection the broker
drops with its QoS 1 publish unacknowledged and two deliveries of ours
unacknowledged. paho reconnects by itself; it must resend its publish
with DUP, and take our two deliveries again (DUP set) and a third one.
Prints "paho retry ok" and the payloads in the order they came.

With "qos2": the broker drops the first connection before its PUBREC for
our QoS 2 publish and before its PUBREL for its QoS 2 delivery; after
paho's reconnect, each must complete once. Prints "paho qos2 ok" and the
payloads received (exactly one).
"""
import sys
import threading

import paho.mqtt.client as mqtt

WAIT_S = 10


def main():
    port = int(sys.argv[1])
    steps = ("connack", "suback", "published", "message", "unsuback", "done")
    ev = {k: threading.Event() for k in steps}
    got = {}

    def on_connect(client, userdata, flags, rc):
        got["connack"] = (flags.get("session present"), rc)
        ev["connack"].set()

    def on_subscribe(client, userdata, mid, granted_qos):
        got["suback"] = list(granted_qos)
        ev["suback"].set()

    def on_publish(client, userdata, mid):
        ev["published"].set()

    def on_message(client, userdata, msg):
        if msg.topic == "done":
            ev["done"].set()
            return
        got["message"] = (msg.topic, msg.payload, msg.qos)
        ev["message"].set()

    def on_unsubscribe(client, userdata, mid):
        ev["unsuback"].set()

    def on_disconnect(client, userdata, rc):
        got["disconnect"] = rc

    c = mqtt.Client(client_id="paho-1", clean_session=False,
                    protocol=mqtt.MQTTv311)
    c.username_pw_set("user", "secret")
    c.will_set("wills/paho", b"gone", qos=1, retain=True)
    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_publish = on_publish
    c.on_message = on_message
    c.on_unsubscribe = on_unsubscribe
    c.on_disconnect = on_disconnect
    c.connect("127.0.0.1", port, keepalive=1)
    c.loop_start()

    def step(name, check=None, want=None):
        if not ev[name].wait(WAIT_S):
            print("timeout waiting for", name, got)
            sys.exit(1)
        if check is not None and got.get(check) != want:
            print(check, "is", got.get(check), "want", want)
            sys.exit(1)

    step("connack", "connack", (1, 0))
    c.subscribe([("s/#", 1), ("t/+", 2)])
    step("suback", "suback", [1, 128])
    c.publish("p/q", b"\x00\xff", qos=2)
    step("published")
    step("message", "message", ("s/x", b"hello", 1))
    c.unsubscribe("t/+")
    step("unsuback")
    step("done")
    if "disconnect" in got:
        print("dropped by the broker:", got["disconnect"])
        sys.exit(1)
    c.disconnect()
    c.loop_stop()
    print("paho ok")


def persistent(client_id, port, qos, on_message, published):
    """A clean-session-0 client that subscribes to s/# at qos when no
    session was present, reconnects by itself after 1 s, is connected and
    running its loop."""
    c = mqtt.Client(client_id=client_id, clean_session=False,
                    protocol=mqtt.MQTTv311)
    c.on_message = on_message
    c.on_publish = lambda client, userdata, mid: published.set()
    c.reconnect_delay_set(min_delay=1, max_delay=1)
    c.on_connect = lambda client, userdata, flags, rc: (
        client.subscribe("s/#", qos) if not flags.get("session present")
        else None)
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    return c


def publish_and_wait(c, topic, payload, qos, published, received, got):
    """Publishes, waits until the publish completed and what was awaited
    was received, then leaves (exit 1 at the time limit)."""
    c.publish(topic, payload, qos=qos)
    if not published.wait(WAIT_S) or not received.wait(WAIT_S):
        print("timeout: published", published.is_set(), "got", got)
        sys.exit(1)
    c.disconnect()
    c.loop_stop()


def retry():
    port = int(sys.argv[1])
    published = threading.Event()
    three = threading.Event()
    got = []
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        with lock:
            got.append((msg.payload.decode(), int(msg.dup)))
            if {p for p, _ in got} == {"m1", "m2", "m3"}:
                three.set()

    c = persistent("paho-2", port, 1, on_message, published)
    # paho queues it until the connection is up; the broker never acks
    # it on the first connection
    publish_and_wait(c, "r/1", b"x", 1, published, three, got)
    print("paho retry ok", " ".join("%s/%d" % g for g in got))


def qos2():
    port = int(sys.argv[1])
    published = threading.Event()
    delivered = threading.Event()
    got = []

    def on_message(client, userdata, msg):
        got.append(msg.payload.decode())
        delivered.set()

    c = persistent("paho-3", port, 2, on_message, published)
    publish_and_wait(c, "q/2", b"once", 2, published, delivered, got)
    print("paho qos2 ok", " ".join(got))


if len(sys.argv) > 2 and sys.argv[2] == "retry":
    retry()
elif len(sys.argv) > 2 and sys.argv[2] == "qos2":
    qos2()
else:
    main()
