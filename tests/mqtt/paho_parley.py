#!/usr/bin/python3
"""paho_parley.py MODE PORT TOPIC: paho (Debian's python3-paho-mqtt 1.6)
against a real parleyd, for it_mqtt_broker.c. Prints "<mode> ok" and
exits 0 when every step saw what Parley must send, else prints the step
that failed and exits 1. Every wait has a deadline.

ws:   MQTT over WebSocket on the main port at /mqtt (subprotocol mqtt):
      subscribe at QoS 1, publish at QoS 1, receive it once.
tcp:  the same over TCP, with two overlapping filters (granted 1 and 2):
      the message arrives once, at QoS 2.
takeover: a second client with the same client id connects; the first
      is disconnected by the server, the second keeps working.
session: clean_session=False: subscribe, go away, two messages are
      published; on reconnect the session is present and both arrive
      without a new SUBSCRIBE, in order, at QoS 1. clean_session=True then
      deletes the session: the next clean_session=False one is new and
      gets nothing.
"""
import sys
import threading

import paho.mqtt.client as mqtt

WAIT_S = 10


def run(mode, port, topic):
    transport = "websockets" if mode == "ws" else "tcp"
    ev = {k: threading.Event() for k in ("connack", "suback", "message")}
    got = {"messages": []}
    c = mqtt.Client(client_id="paho-" + mode, clean_session=True,
                    transport=transport)
    if transport == "websockets":
        c.ws_set_options(path="/mqtt")

    def on_connect(client, userdata, flags, rc):
        got["rc"] = rc
        ev["connack"].set()

    def on_subscribe(client, userdata, mid, granted):
        got["granted"] = list(granted)
        ev["suback"].set()

    def on_message(client, userdata, msg):
        got["messages"].append((msg.topic, msg.payload, msg.qos))
        ev["message"].set()

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    try:
        if not ev["connack"].wait(WAIT_S) or got["rc"] != 0:
            return "connack %r" % got.get("rc")
        if mode == "ws":
            c.subscribe(topic, qos=1)
            want_granted, want_qos = [1], 1
        else:
            c.subscribe([(topic, 1), (topic.rsplit("/", 1)[0] + "/#", 2)])
            want_granted, want_qos = [1, 2], 2
        if not ev["suback"].wait(WAIT_S) or got["granted"] != want_granted:
            return "suback %r" % got.get("granted")
        info = c.publish(topic, b"\x00\x01binary\xff", qos=1)
        info.wait_for_publish()
        if not ev["message"].wait(WAIT_S):
            return "no message"
        # a ping round trip: anything else queued would come first
        done = threading.Event()
        c.on_subscribe = lambda *a: done.set()
        c.subscribe(topic + "/none", qos=0)
        if not done.wait(WAIT_S):
            return "no second suback"
        want = [(topic, b"\x00\x01binary\xff", want_qos)]
        if got["messages"] != want:
            return "messages %r" % got["messages"]
        return None
    finally:
        c.disconnect()
        c.loop_stop()


def takeover(port, topic):
    first_gone = threading.Event()
    connected = [threading.Event(), threading.Event()]
    got = threading.Event()
    clients = []
    for i in range(2):
        c = mqtt.Client(client_id="paho-same-id", clean_session=True)
        c.on_connect = (lambda ev: lambda *a: ev.set())(connected[i])
        clients.append(c)
    clients[0].on_disconnect = lambda client, userdata, rc: first_gone.set()
    clients[1].on_message = lambda client, userdata, msg: got.set()
    clients[0].connect("127.0.0.1", port, keepalive=30)
    clients[0].loop_start()
    try:
        if not connected[0].wait(WAIT_S):
            return "first connack"
        # paho would reconnect by itself: not this one
        clients[0].reconnect_delay_set(min_delay=60, max_delay=60)
        clients[1].connect("127.0.0.1", port, keepalive=30)
        clients[1].loop_start()
        if not connected[1].wait(WAIT_S):
            return "second connack"
        if not first_gone.wait(WAIT_S):
            return "the first client was not disconnected"
        clients[1].subscribe(topic, qos=1)
        clients[1].publish(topic, b"still here", qos=1)
        if not got.wait(WAIT_S):
            return "the second client got nothing"
        return None
    finally:
        for c in clients:
            c.disconnect()
            c.loop_stop()


def connect(port, clean, on_message=None):
    """A connected client and its CONNACK flags (None: no CONNACK)."""
    ev = threading.Event()
    got = {}
    c = mqtt.Client(client_id="paho-session", clean_session=clean)
    c.reconnect_delay_set(min_delay=60, max_delay=60)

    def on_connect(client, userdata, flags, rc):
        got["flags"], got["rc"] = flags, rc
        ev.set()

    c.on_connect = on_connect
    if on_message is not None:
        c.on_message = on_message
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    if not ev.wait(WAIT_S) or got["rc"] != 0:
        return c, None
    return c, got["flags"]


def barrier(c, topic):
    """A SUBSCRIBE round trip: whatever was queued before came first."""
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(topic + "/barrier", qos=0)
    return done.wait(WAIT_S)


def bye(c):
    c.disconnect()
    c.loop_stop()


def session(port, topic):
    got = []
    arrived = threading.Event()

    def on_message(client, userdata, msg):
        got.append((msg.topic, msg.payload, msg.qos))
        if len(got) >= 2:
            arrived.set()

    c, flags = connect(port, False)
    if flags is None or flags.get("session present") != 0:
        return "first connack %r" % flags
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(topic, qos=1)
    if not done.wait(WAIT_S):
        return "no suback"
    bye(c)
    p = mqtt.Client(client_id="paho-session-pub", clean_session=True)
    p.connect("127.0.0.1", port, keepalive=30)
    p.loop_start()
    for text in (b"one", b"two"):
        p.publish(topic, text, qos=1).wait_for_publish()
    c, flags = connect(port, False, on_message)
    if flags is None or flags.get("session present") != 1:
        return "resume connack %r" % flags
    if not arrived.wait(WAIT_S):
        return "missed messages %r" % got
    if not barrier(c, topic):
        return "no barrier suback"
    if got != [(topic, b"one", 1), (topic, b"two", 1)]:
        return "messages %r" % got
    bye(c)
    c, flags = connect(port, True)
    if flags is None or flags.get("session present") != 0:
        return "clean connack %r" % flags
    bye(c)
    p.publish(topic, b"three", qos=1).wait_for_publish()
    bye(p)
    del got[:]
    c, flags = connect(port, False, on_message)
    if flags is None or flags.get("session present") != 0:
        return "after wipe connack %r" % flags
    if not barrier(c, topic) or got:
        return "after wipe %r" % got
    bye(c)
    return None


def main():
    mode, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "takeover":
        err = takeover(port, topic)
    elif mode == "session":
        err = session(port, topic)
    else:
        err = run(mode, port, topic)
    if err is not None:
        print("%s failed: %s" % (mode, err))
        sys.exit(1)
    print("%s ok" % mode)


if __name__ == "__main__":
    main()
