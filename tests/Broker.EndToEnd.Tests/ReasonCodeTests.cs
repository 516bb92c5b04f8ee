using System.Text;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// The exact reason code the real broker closes with, byte for byte on the wire, for each error the MQTT 5.0
/// specification gives a code to (each case names its statement); and what a 3.1.1 client gets for the same errors:
/// the connection closed without a DISCONNECT (3.1.1 has none), a CONNACK return code only where 3.1.1 gives one.
/// One broker serves every case (each on its own connection); it announces a Topic Alias Maximum of 5, Maximum QoS 1,
/// and no retain, wildcard or shared subscriptions, so the codes for using what CONNACK refused can be checked too.
/// </summary>
public sealed class ReasonCodeTests(ReasonCodeTests.SharedBroker shared) : IClassFixture<ReasonCodeTests.SharedBroker>
{
    public sealed class SharedBroker : IAsyncLifetime
    {
        public BrokerProcess Broker { get; private set; } = null!;

        public async ValueTask InitializeAsync() => Broker = await BrokerProcess.StartAsync(o =>
        {
            o["mqtt.max_topic_alias"] = "5";
            o["mqtt.max_qos_allowed"] = "1";
            o["mqtt.retain_available"] = "false";
            o["mqtt.wildcard_subscription"] = "false";
            o["mqtt.shared_subscription"] = "false";
        });

        public ValueTask DisposeAsync() => Broker.DisposeAsync();
    }

    /// <summary>A 5.0 client, connected, sends one packet; the broker answers DISCONNECT with this code and closes.</summary>
    public static TheoryData<string, byte[], byte> AfterConnectV5() => new()
    {
        // 2.2.2.2: "an Identifier which is not valid for its packet type ... is a Malformed Packet"
        { "2.2.2.2 SUBSCRIBE with Reason String", P(0x82, U16(1), Props(B(0x1F), S("x")), S("a"), B(0)), 0x81 },
        { "2.2.2.2 SUBSCRIBE with Topic Alias", P(0x82, U16(1), Props(B(0x23, 0, 1)), S("a"), B(0)), 0x81 },
        { "2.2.2.2 UNSUBSCRIBE with Subscription Identifier", P(0xA2, U16(1), Props(B(0x0B, 1)), S("a")), 0x81 },
        { "2.2.2.2 UNSUBSCRIBE with Reason String", P(0xA2, U16(1), Props(B(0x1F), S("x")), S("a")), 0x81 },
        { "2.2.2.2 PUBLISH with Reason String", P(0x30, S("t"), Props(B(0x1F), S("x"))), 0x81 },
        { "2.2.2.2 PUBLISH with Session Expiry Interval", P(0x30, S("t"), Props(B(0x11, 0, 0, 0, 1))), 0x81 },
        { "2.2.2.2 PUBACK with Subscription Identifier", P(0x40, U16(1), B(0), Props(B(0x0B, 1))), 0x81 },
        { "2.2.2.2 DISCONNECT with Receive Maximum", P(0xE0, B(0), Props(B(0x21, 0, 1))), 0x81 },
        // [MQTT-3.3.4-6]: a client's PUBLISH MUST NOT carry a Subscription Identifier; 3.3.4: a Protocol Error
        { "MQTT-3.3.4-6 PUBLISH with Subscription Identifier", P(0x30, S("t"), Props(B(0x0B, 1))), 0x82 },
        // "It is a Protocol Error to include ... more than once" (3.3.2.3.x, 3.8.2.1.2, 3.4.2.2.2)
        { "3.3.2.3.2 PUBLISH with Payload Format Indicator twice", P(0x30, S("t"), Props(B(0x01, 0), B(0x01, 0))), 0x82 },
        { "3.3.2.3.9 PUBLISH with Content Type twice", P(0x30, S("t"), Props(B(0x03), S("a"), B(0x03), S("b"))), 0x82 },
        { "3.8.2.1.2 SUBSCRIBE with two Subscription Identifiers", P(0x82, U16(1), Props(B(0x0B, 1), B(0x0B, 2)), S("a"), B(0)), 0x82 },
        { "3.4.2.2.2 PUBACK with Reason String twice", P(0x40, U16(1), B(0), Props(B(0x1F), S("a"), B(0x1F), S("b"))), 0x82 },
        // values out of range
        { "3.3.2.3.2 Payload Format Indicator 2", P(0x30, S("t"), Props(B(0x01, 2))), 0x82 },
        { "3.8.2.1.2 Subscription Identifier 0", P(0x82, U16(1), Props(B(0x0B, 0)), S("a"), B(0)), 0x82 },
        { "3.3.4 Topic Alias 0", P(0x30, S("t"), Props(B(0x23, 0, 0))), 0x94 },
        { "3.3.4 Topic Alias above the Topic Alias Maximum", P(0x30, S("t"), Props(B(0x23, 0, 6))), 0x94 },
        { "3.3.4 unknown Topic Alias with an empty topic", P(0x30, S(""), Props(B(0x23, 0, 3))), 0x82 },
        { "3.3.2.1 empty topic without a Topic Alias", P(0x30, S(""), Props()), 0x82 },
        // reason codes not of the packet's table: the sender "MUST use one of" them
        { "MQTT-3.4.2-1 PUBACK reason 0x01", P(0x40, U16(1), B(0x01)), 0x82 },
        { "MQTT-3.4.2-1 PUBACK reason 0x92", P(0x40, U16(1), B(0x92)), 0x82 },
        { "MQTT-3.5.2-1 PUBREC reason 0x04", P(0x50, U16(1), B(0x04)), 0x82 },
        { "MQTT-3.6.2-1 PUBREL reason 0x10", P(0x62, U16(1), B(0x10)), 0x82 },
        { "MQTT-3.7.2-1 PUBCOMP reason 0x80", P(0x70, U16(1), B(0x80)), 0x82 },
        { "MQTT-3.14.2-1 DISCONNECT reason 0x01", P(0xE0, B(0x01)), 0x82 },
        { "MQTT-3.15.2-1 AUTH reason 0x01", P(0xF0, B(0x01), Props(B(0x15), S("m"))), 0x82 },
        // 3.15: AUTH without the Authentication Method of the CONNECT (here: none at all, 3.15.2.2.2)
        { "3.15 AUTH without Authentication Method", P(0xF0, B(0x18)), 0x82 },
        { "3.15 AUTH after a CONNECT without method", P(0xF0, B(0x18), Props(B(0x15), S("m"))), 0x82 },
        // 3.8.3.1 / [MQTT-3.8.3-5]: Subscription Options
        { "MQTT-3.8.3-5 reserved bit 6 of the Subscription Options", P(0x82, U16(1), Props(), S("a"), B(0x40)), 0x81 },
        { "3.8.3.1 Maximum QoS 3 in the Subscription Options", P(0x82, U16(1), Props(), S("a"), B(0x03)), 0x82 },
        { "3.8.3.1 Retain Handling 3", P(0x82, U16(1), Props(), S("a"), B(0x30)), 0x82 },
        { "MQTT-3.8.3-4 No Local on a shared subscription", P(0x82, U16(1), Props(), S("$share/g/a"), B(0x04)), 0x82 },
        // features CONNACK announced unavailable
        { "3.2.2.3.4 PUBLISH QoS 2 above Maximum QoS 1", P(0x34, S("t"), U16(1), Props()), 0x9B },
        { "MQTT-3.2.2-14 PUBLISH retained though Retain Available 0", P(0x31, S("t"), Props()), 0x9A },
        { "3.2.2.3.11 wildcard subscription though unavailable", P(0x82, U16(1), Props(), S("a/+"), B(0)), 0xA2 },
        { "3.2.2.3.13 shared subscription though unavailable", P(0x82, U16(1), Props(), S("$share/g/a"), B(0)), 0x9E },
        // fixed header, packet ids, topics, strings
        { "MQTT-2.1.3-1 PINGREQ with flags 0001", B(0xC1, 0), 0x81 },
        { "MQTT-3.6.1-1 PUBREL with flags 0000", P(0x60, U16(1)), 0x81 },
        { "MQTT-3.3.1-4 PUBLISH QoS 3", P(0x36, S("t"), U16(1), Props()), 0x81 },
        { "MQTT-3.3.2-2 PUBLISH topic with a wildcard", P(0x30, S("a/#"), Props()), 0x81 },
        { "MQTT-1.5.4-1 PUBLISH topic not well-formed UTF-8", P(0x30, U16(2), B(0xC3, 0x28), Props()), 0x81 },
        { "MQTT-2.2.1-3 SUBSCRIBE with Packet Identifier 0", P(0x82, U16(0), Props(), S("a"), B(0)), 0x82 },
        { "MQTT-3.8.3-2 SUBSCRIBE without a topic filter", P(0x82, U16(1), Props()), 0x82 },
        { "MQTT-3.1.0-2 second CONNECT", ConnectPacket("again", V5), 0x82 },
        // 3.14.2.2.2: Session Expiry Interval 0 at CONNECT cannot be raised on DISCONNECT
        { "3.14.2.2.2 DISCONNECT raising the Session Expiry Interval from 0", P(0xE0, B(0), Props(B(0x11, 0, 0, 0, 10))), 0x82 },
    };

    [Theory]
    [MemberData(nameof(AfterConnectV5))]
    public async Task Violation_V5_DisconnectWithTheSpecifiedReasonCode(string statement, byte[] packet, byte expected)
    {
        await using var client = await RawMqttClient.ConnectMqttAsync(shared.Broker, ConnectPacket(ClientId(), V5));

        await client.SendAsync(packet);

        var before = await client.WaitForCloseAsync();
        var disconnect = before.SingleOrDefault(p => p.Type == Disconnect);
        Assert.True(disconnect is not null, $"{statement}: no DISCONNECT before the close ({string.Join(", ", before)})");
        Assert.Equal($"0x{expected:X2}", $"0x{ReasonCode(disconnect):X2}");
    }

    /// <summary>A 5.0 CONNECT the broker refuses: CONNACK with this code, then the close (3.1.4, 4.13.1).</summary>
    public static TheoryData<string, byte[], byte> ConnectV5() => new()
    {
        { "MQTT-3.1.2-3 reserved flag", Connect5(0x03, Props()), 0x81 },
        { "MQTT-3.1.2-12 Will QoS 3", Connect5(0x1E, Props(), Props(), S("w"), U16(0)), 0x81 },
        { "MQTT-3.1.2-11 Will QoS without the Will Flag", Connect5(0x0A, Props()), 0x81 },
        { "2.2.2.2 Maximum QoS in CONNECT", Connect5(0x02, Props(B(0x24, 1))), 0x81 },
        { "2.2.2.2 Topic Alias in CONNECT", Connect5(0x02, Props(B(0x23, 0, 1))), 0x81 },
        { "2.2.2.2 Topic Alias in the will properties", Connect5(0x06, Props(), Props(B(0x23, 0, 1)), S("w"), U16(0)), 0x81 },
        { "3.1.2.11.2 Session Expiry Interval twice", Connect5(0x02, Props(B(0x11, 0, 0, 0, 1), B(0x11, 0, 0, 0, 1))), 0x82 },
        { "3.1.2.11.3 Receive Maximum 0", Connect5(0x02, Props(B(0x21, 0, 0))), 0x82 },
        { "3.1.2.11.4 Maximum Packet Size 0", Connect5(0x02, Props(B(0x27, 0, 0, 0, 0))), 0x82 },
        { "3.1.2.11.7 Request Problem Information 2", Connect5(0x02, Props(B(0x17, 2))), 0x82 },
        { "3.1.2.11.6 Request Response Information 2", Connect5(0x02, Props(B(0x19, 2))), 0x82 },
        { "3.1.2.11.10 Authentication Data without Authentication Method", Connect5(0x02, Props(B(0x16), U16(0))), 0x82 },
        { "3.1.3.2.2 Will Delay Interval twice", Connect5(0x06, Props(), Props(B(0x18, 0, 0, 0, 1), B(0x18, 0, 0, 0, 1)), S("w"), U16(0)), 0x82 },
        { "MQTT-3.2.2-12 Will QoS 2 above Maximum QoS 1", Connect5(0x16, Props(), Props(), S("w"), U16(0)), 0x9B },
        { "MQTT-3.2.2-13 Will Retain though retain is unavailable", Connect5(0x26, Props(), Props(), S("w"), U16(0)), 0x9A },
        { "4.12 unsupported Authentication Method", Connect5(0x02, Props(B(0x15), S("SCRAM-SHA-1"))), 0x8C },
        { "MQTT-3.1.2-2 protocol version 6", P(0x10, S("MQTT"), B(6, 0x02), U16(60), Props(), S("c")), 0x84 },
    };

    [Theory]
    [MemberData(nameof(ConnectV5))]
    public async Task Connect_V5Refused_ConnAckWithTheSpecifiedReasonCode(string statement, byte[] connect, byte expected)
    {
        await using var client = await RawMqttClient.ConnectAsync(shared.Broker);

        await client.SendAsync(connect);

        var before = await client.WaitForCloseAsync();
        var connack = before.SingleOrDefault(p => p.Type == Connack);
        Assert.True(connack is not null, $"{statement}: no CONNACK before the close ({string.Join(", ", before)})");
        Assert.Equal($"0x{expected:X2}", $"0x{ConnackCode(connack):X2}");
        Assert.Single(before); // and nothing after it [MQTT-3.2.2-7]
    }

    /// <summary>The same kind of errors from a 3.1.1 client: closed, and never a DISCONNECT ([MQTT-4.8.0-1]).</summary>
    public static TheoryData<string, byte[]> AfterConnectV311() => new()
    {
        { "MQTT-3.8.3-4 SUBSCRIBE QoS 3", P(0x82, U16(1), S("a"), B(0x03)) },
        { "MQTT-3.8.3-4 SUBSCRIBE reserved bits", P(0x82, U16(1), S("a"), B(0x04)) },
        { "MQTT-3.8.1-1 SUBSCRIBE flags 0000", P(0x80, U16(1), S("a"), B(0)) },
        { "MQTT-3.3.2-2 PUBLISH topic with a wildcard", P(0x30, S("a/+")) },
        { "MQTT-2.3.1-1 PUBLISH QoS 1 with Packet Identifier 0", P(0x32, S("t"), U16(0)) },
        { "3.4 PUBACK with a reason code byte", P(0x40, U16(1), B(0x10)) },
        { "MQTT-3.10.3-2 UNSUBSCRIBE without a topic filter", P(0xA2, U16(1)) },
        { "MQTT-3.1.0-2 second CONNECT", ConnectPacket("again") },
        { "2.2 packet type 15", B(0xF0, 0) },
    };

    [Theory]
    [MemberData(nameof(AfterConnectV311))]
    public async Task Violation_V311_ClosedWithoutDisconnect(string statement, byte[] packet)
    {
        await using var client = await RawMqttClient.ConnectMqttAsync(shared.Broker, ConnectPacket(ClientId()));

        await client.SendAsync(packet);

        var before = await client.WaitForCloseAsync();
        Assert.True(before.Count == 0, $"{statement}: packets before the close: {string.Join(", ", before)}");
    }

    /// <summary>3.1.1 CONNECT errors: a return code where 3.1.1 gives one, else closed without a CONNACK [MQTT-3.1.4-1].</summary>
    public static TheoryData<string, byte[], int> ConnectV311() => new()
    {
        { "MQTT-3.1.2-2 protocol level 3 under the name MQTT", P(0x10, S("MQTT"), B(3, 0x02), U16(60), S("c")), 0x01 },
        { "MQTT-3.1.3-8 empty client id with CleanSession 0", P(0x10, S("MQTT"), B(4, 0x00), U16(60), S("")), 0x02 },
        { "MQTT-3.1.2-3 reserved flag", P(0x10, S("MQTT"), B(4, 0x03), U16(60), S("c")), -1 },
        { "MQTT-3.1.2-14 Will QoS 3", P(0x10, S("MQTT"), B(4, 0x1E), U16(60), S("c"), S("w"), U16(0)), -1 },
        { "MQTT-3.1.2-22 password without user name", P(0x10, S("MQTT"), B(4, 0x42), U16(60), S("c"), U16(1), B(1)), -1 },
        { "MQTT-3.1.2-1 protocol name MQTX (MAY close without CONNACK)", P(0x10, S("MQTX"), B(4, 0x02), U16(60), S("c")), -1 },
        { "MQTT-1.5.3-1 client id not well-formed UTF-8", P(0x10, S("MQTT"), B(4, 0x02), U16(60), U16(2), B(0xC3, 0x28)), -1 },
    };

    [Theory]
    [MemberData(nameof(ConnectV311))]
    public async Task Connect_V311Refused_ReturnCodeOnlyWhereTheSpecGivesOne(string statement, byte[] connect, int expected)
    {
        await using var client = await RawMqttClient.ConnectAsync(shared.Broker);

        await client.SendAsync(connect);

        var before = await client.WaitForCloseAsync();
        if (expected < 0)
        {
            Assert.True(before.Count == 0, $"{statement}: packets before the close: {string.Join(", ", before)}");
            return;
        }
        var connack = Assert.Single(before);
        Assert.Equal(2, connack.Body.Length); // a 3.1.1 CONNACK, readable by the client
        Assert.Equal(expected, ConnackCode(connack));
    }

    // 4.3.3 / 3.7.2.1: a PUBREL for a Packet Identifier the broker does not hold is answered, not an error: 5.0
    // PUBCOMP 0x92 (Packet Identifier not found), 3.1.1 a plain PUBCOMP; the connection stays.
    [Theory]
    [InlineData(V5, 0x92)]
    [InlineData(V311, -1)]
    public async Task PubRel_UnknownPacketId_PubCompAndConnectionKept(byte version, int expected)
    {
        await using var client = await RawMqttClient.ConnectMqttAsync(shared.Broker, ConnectPacket(ClientId(), version));

        await client.SendAsync(P(0x62, U16(9)));

        var pubcomp = await client.ReceiveAsync(Pubcomp);
        Assert.Equal(9, PacketId(pubcomp));
        if (expected < 0)
            Assert.Equal(2, pubcomp.Body.Length);
        else
            Assert.Equal(expected, ReasonCode(pubcomp));
        await client.SendAsync(B(0xC0, 0));
        await client.ReceiveAsync(Pingresp);
    }

    // [MQTT-3.3.4-7] / 3.3.4: more unacknowledged QoS 2 PUBLISH packets than the Receive Maximum of CONNACK:
    // DISCONNECT 0x93 (Receive Maximum exceeded).
    [Fact]
    public async Task Publish_MoreQos2ThanReceiveMaximum_Disconnect0x93()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["session.max_awaiting_rel"] = "2");
        await using var client = await RawMqttClient.ConnectAsync(broker);
        await client.SendAsync(ConnectPacket(ClientId(), V5));
        Assert.Equal(2, ConnackProperties(await client.ReceiveAsync(Connack))[0x21]);

        for (ushort id = 1; id <= 2; id++)
        {
            await client.SendAsync(P(0x34, S("t"), U16(id), Props()));
            await client.ReceiveAsync(Pubrec);
        }
        await client.SendAsync(P(0x34, S("t"), U16(3), Props()));

        var before = await client.WaitForCloseAsync();
        Assert.Equal(0x93, ReasonCode(Assert.Single(before, p => p.Type == Disconnect)));
    }

    private static string ClientId() => "rc-" + Guid.NewGuid().ToString("N")[..12];

    private static byte[] Connect5(byte flags, byte[] properties, params byte[][] payloadAfterClientId) =>
        P(0x10, [S("MQTT"), B(5, flags), U16(60), properties, S(ClientId()), .. payloadAfterClientId]);

    private static byte[] P(byte header, params byte[][] parts) => Packet(header, parts.SelectMany(p => p).ToArray());

    private static byte[] B(params byte[] bytes) => bytes;

    private static byte[] U16(int value) => [(byte)(value >> 8), (byte)value];

    private static byte[] S(string value) => [.. U16(Encoding.UTF8.GetByteCount(value)), .. Encoding.UTF8.GetBytes(value)];

    /// <summary>A property block: Property Length (one byte: these are all short) and the properties.</summary>
    private static byte[] Props(params byte[][] properties)
    {
        var body = properties.SelectMany(p => p).ToArray();
        return [(byte)body.Length, .. body];
    }
}
