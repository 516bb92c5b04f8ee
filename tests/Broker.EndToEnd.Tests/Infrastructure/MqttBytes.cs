using System.Text;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Hand-rolled MQTT encoding for the raw client, deliberately independent of Broker.Protocol so the tests
/// do not share a bug with the code under test. Only what the tests need.
/// </summary>
public static class MqttBytes
{
    public const int Connect = 1, Connack = 2, Publish = 3, Puback = 4, Pubrec = 5, Pubrel = 6, Pubcomp = 7,
        Subscribe = 8, Suback = 9, Unsubscribe = 10, Unsuback = 11, Pingreq = 12, Pingresp = 13, Disconnect = 14, Auth = 15;

    public const byte V311 = 4, V5 = 5;

    public static string TypeName(int type) => type switch
    {
        Connect => "CONNECT",
        Connack => "CONNACK",
        Publish => "PUBLISH",
        Puback => "PUBACK",
        Pubrec => "PUBREC",
        Pubrel => "PUBREL",
        Pubcomp => "PUBCOMP",
        Subscribe => "SUBSCRIBE",
        Suback => "SUBACK",
        Unsubscribe => "UNSUBSCRIBE",
        Unsuback => "UNSUBACK",
        Pingreq => "PINGREQ",
        Pingresp => "PINGRESP",
        Disconnect => "DISCONNECT",
        Auth => "AUTH",
        _ => "RESERVED" + type,
    };

    public sealed record Will(string Topic, string Payload, int Qos = 0, bool Retain = false, uint? DelaySeconds = null);

    public static byte[] ConnectPacket(
        string clientId,
        byte version = V311,
        bool cleanStart = true,
        ushort keepAlive = 60,
        string? username = null,
        string? password = null,
        Will? will = null,
        uint? sessionExpiry = null)
    {
        var body = new List<byte>();
        AddString(body, "MQTT");
        body.Add(version);
        var flags = (byte)((cleanStart ? 0x02 : 0) | (username is not null ? 0x80 : 0) | (password is not null ? 0x40 : 0));
        if (will is not null)
        {
            flags |= (byte)(0x04 | (will.Qos << 3) | (will.Retain ? 0x20 : 0));
        }

        body.Add(flags);
        body.Add((byte)(keepAlive >> 8));
        body.Add((byte)keepAlive);
        if (version == V5)
        {
            var props = new List<byte>();
            if (sessionExpiry is { } expiry)
            {
                props.Add(0x11);
                AddUInt32(props, expiry);
            }

            AddProperties(body, props);
        }

        AddString(body, clientId);
        if (will is not null)
        {
            if (version == V5)
            {
                var props = new List<byte>();
                if (will.DelaySeconds is { } delay)
                {
                    props.Add(0x18);
                    AddUInt32(props, delay);
                }

                AddProperties(body, props);
            }

            AddString(body, will.Topic);
            AddBinary(body, Encoding.UTF8.GetBytes(will.Payload));
        }

        if (username is not null)
        {
            AddString(body, username);
        }

        if (password is not null)
        {
            AddBinary(body, Encoding.UTF8.GetBytes(password));
        }

        return Packet(0x10, body);
    }

    public static byte[] SubscribePacket(ushort packetId, string filter, int qos = 0, byte version = V311) =>
        SubscribePacket(packetId, [filter], qos, version);

    /// <summary>One SUBSCRIBE of several filters, each at <paramref name="qos"/>.</summary>
    public static byte[] SubscribePacket(ushort packetId, IEnumerable<string> filters, int qos = 0, byte version = V311)
    {
        var body = new List<byte> { (byte)(packetId >> 8), (byte)packetId };
        if (version == V5)
        {
            body.Add(0);
        }

        foreach (var filter in filters)
        {
            AddString(body, filter);
            body.Add((byte)qos);
        }

        return Packet(0x82, body);
    }

    public static byte[] PublishPacket(
        string topic, byte[] payload, int qos = 0, ushort packetId = 0, byte version = V311, bool retain = false)
    {
        var body = new List<byte>();
        AddString(body, topic);
        if (qos > 0)
        {
            body.Add((byte)(packetId >> 8));
            body.Add((byte)packetId);
        }

        if (version == V5)
        {
            body.Add(0);
        }

        body.AddRange(payload);
        return Packet((byte)(0x30 | (qos << 1) | (retain ? 1 : 0)), body);
    }

    public static byte[] PublishPacket(string topic, string payload, int qos = 0, ushort packetId = 0, byte version = V311) =>
        PublishPacket(topic, Encoding.UTF8.GetBytes(payload), qos, packetId, version);

    /// <summary>DISCONNECT; under MQTT 5 with a reason code (0x00 normal, 0x04 with will message).</summary>
    public static byte[] DisconnectPacket(byte version = V311, byte reason = 0) =>
        version == V5 && reason != 0 ? [0xE0, 0x01, reason] : [0xE0, 0x00];

    public static byte[] Packet(byte header, IReadOnlyCollection<byte> body)
    {
        var packet = new List<byte>(body.Count + 5) { header };
        AddVarInt(packet, body.Count);
        packet.AddRange(body);
        return [.. packet];
    }

    public static void AddVarInt(List<byte> to, int value)
    {
        do
        {
            var b = (byte)(value % 128);
            value /= 128;
            to.Add(value > 0 ? (byte)(b | 0x80) : b);
        }
        while (value > 0);
    }

    /// <summary>Frames one packet off the front of <paramref name="data"/>.</summary>
    public static bool TryParse(List<byte> data, out RawPacket packet, out int consumed)
    {
        packet = null!;
        consumed = 0;
        if (data.Count < 2)
        {
            return false;
        }

        int length = 0, multiplier = 1, i = 1;
        while (true)
        {
            if (i >= data.Count)
            {
                return false;
            }

            var b = data[i++];
            length += (b & 0x7F) * multiplier;
            multiplier *= 128;
            if ((b & 0x80) == 0)
            {
                break;
            }

            if (i > 4)
            {
                throw new InvalidDataException("remaining length longer than 4 bytes from the broker");
            }
        }

        if (data.Count < i + length)
        {
            return false;
        }

        packet = new RawPacket(data[0], data.GetRange(i, length).ToArray());
        consumed = i + length;
        return true;
    }

    /// <summary>CONNACK return code (3.1.1) or reason code (5.0).</summary>
    public static byte ConnackCode(RawPacket connack)
    {
        Assert.Equal(Connack, connack.Type);
        return connack.Body[1];
    }

    /// <summary>MQTT 5 CONNACK properties by identifier (strings decoded, integers as numbers).</summary>
    public static Dictionary<byte, object> ConnackProperties(RawPacket connack)
    {
        var at = 2;
        return ReadProperties(connack.Body, ref at);
    }

    /// <summary>The SUBACK return/reason codes, one per filter.</summary>
    public static byte[] SubackCodes(RawPacket suback, byte version)
    {
        Assert.Equal(Suback, suback.Type);
        var at = 2;
        if (version == V5)
        {
            ReadProperties(suback.Body, ref at);
        }

        return suback.Body[at..];
    }

    /// <summary>Reason code of an MQTT 5 PUBACK/PUBREC/DISCONNECT (0 when omitted).</summary>
    public static byte ReasonCode(RawPacket packet)
    {
        var offset = packet.Type == Disconnect ? 0 : 2;
        return packet.Body.Length > offset ? packet.Body[offset] : (byte)0;
    }

    public static ushort PacketId(RawPacket packet) =>
        packet.Type == Publish
            ? ReadUInt16(packet.Body, 2 + ReadUInt16(packet.Body, 0))
            : ReadUInt16(packet.Body, 0);

    /// <summary>Topic and payload of a PUBLISH.</summary>
    public static (string Topic, string Payload) ReadPublish(RawPacket publish, byte version)
    {
        Assert.Equal(Publish, publish.Type);
        var topicLength = ReadUInt16(publish.Body, 0);
        var topic = Encoding.UTF8.GetString(publish.Body, 2, topicLength);
        var at = 2 + topicLength + (((publish.Flags >> 1) & 3) > 0 ? 2 : 0);
        if (version == V5)
        {
            ReadProperties(publish.Body, ref at);
        }

        return (topic, Encoding.UTF8.GetString(publish.Body, at, publish.Body.Length - at));
    }

    private static Dictionary<byte, object> ReadProperties(byte[] body, ref int at)
    {
        var result = new Dictionary<byte, object>();
        if (at >= body.Length)
        {
            return result;
        }

        int length = 0, multiplier = 1;
        byte b;
        do
        {
            b = body[at++];
            length += (b & 0x7F) * multiplier;
            multiplier *= 128;
        }
        while ((b & 0x80) != 0);

        var end = at + length;
        while (at < end)
        {
            var id = body[at++];
            switch (id)
            {
                case 0x01 or 0x17 or 0x19 or 0x24 or 0x25 or 0x28 or 0x29 or 0x2A:
                    result[id] = (int)body[at++];
                    break;
                case 0x13 or 0x21 or 0x22 or 0x23:
                    result[id] = (int)ReadUInt16(body, at);
                    at += 2;
                    break;
                case 0x02 or 0x11 or 0x18 or 0x27:
                    result[id] = (long)((uint)body[at] << 24 | (uint)body[at + 1] << 16 | (uint)body[at + 2] << 8 | body[at + 3]);
                    at += 4;
                    break;
                case 0x03 or 0x08 or 0x12 or 0x15 or 0x1A or 0x1C or 0x1F:
                    var len = ReadUInt16(body, at);
                    result[id] = Encoding.UTF8.GetString(body, at + 2, len);
                    at += 2 + len;
                    break;
                case 0x09 or 0x16:
                    var blen = ReadUInt16(body, at);
                    result[id] = body[(at + 2)..(at + 2 + blen)];
                    at += 2 + blen;
                    break;
                case 0x26:
                    var klen = ReadUInt16(body, at);
                    at += 2 + klen;
                    var vlen = ReadUInt16(body, at);
                    at += 2 + vlen;
                    break;
                case 0x0B:
                    while ((body[at++] & 0x80) != 0)
                    {
                    }

                    break;
                default:
                    throw new InvalidDataException($"unknown property 0x{id:X2}");
            }
        }

        at = end;
        return result;
    }

    private static ushort ReadUInt16(byte[] body, int at) => (ushort)(body[at] << 8 | body[at + 1]);

    private static void AddString(List<byte> to, string value) => AddBinary(to, Encoding.UTF8.GetBytes(value));

    private static void AddBinary(List<byte> to, byte[] value)
    {
        to.Add((byte)(value.Length >> 8));
        to.Add((byte)value.Length);
        to.AddRange(value);
    }

    private static void AddUInt32(List<byte> to, uint value)
    {
        to.Add((byte)(value >> 24));
        to.Add((byte)(value >> 16));
        to.Add((byte)(value >> 8));
        to.Add((byte)value);
    }

    private static void AddProperties(List<byte> to, List<byte> props)
    {
        AddVarInt(to, props.Count);
        to.AddRange(props);
    }
}
