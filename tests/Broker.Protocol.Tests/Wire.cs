using System.Text;

namespace Broker.Protocol.Tests;

/// <summary>Hand-writes packets byte by byte, so rule tests do not depend on the writer under test.</summary>
internal static class Wire
{
    /// <summary>First byte, Remaining Length (computed), then the parts.</summary>
    public static byte[] Packet(byte firstByte, params byte[][] parts)
    {
        var body = parts.SelectMany(p => p).ToArray();
        var bytes = new List<byte> { firstByte };
        var length = body.Length;
        do
        {
            var b = (byte)(length & 0x7F);
            length >>= 7;
            if (length > 0)
                b |= 0x80;
            bytes.Add(b);
        }
        while (length > 0);
        bytes.AddRange(body);
        return [.. bytes];
    }

    public static byte[] Str(string value) => Bin(Encoding.UTF8.GetBytes(value));

    public static byte[] Bin(params byte[] value) => [(byte)(value.Length >> 8), (byte)value.Length, .. value];

    public static byte[] U16(int value) => [(byte)(value >> 8), (byte)value];

    public static byte[] B(params byte[] value) => value;

    /// <summary>A property block: Property Length (one byte here) then the properties.</summary>
    public static byte[] Props(params byte[][] properties)
    {
        var body = properties.SelectMany(p => p).ToArray();
        return [(byte)body.Length, .. body];
    }

    public static readonly byte[] NoProps = [0];

    /// <summary>An MQTT 3.1.1 CONNECT with the given flags and payload after the client id.</summary>
    public static byte[] Connect311(byte flags, params byte[][] payloadAfterClientId) =>
        Packet(0x10, [Str("MQTT"), B(4, flags), U16(60), Str("c"), .. payloadAfterClientId]);

    public static byte[] Connect5(byte[] properties, byte flags = 0x02, params byte[][] payloadAfterClientId) =>
        Packet(0x10, [Str("MQTT"), B(5, flags), U16(60), properties, Str("c"), .. payloadAfterClientId]);
}
