using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace Broker.Protocol.Codec;

/// <summary>
/// Bounds-checked cursor over one packet body. Every read that would run past the end throws
/// <see cref="MqttReasonCode.MalformedPacket"/>, so a decoder written against it cannot over-read, whatever the input.
/// </summary>
internal ref struct WireReader
{
    private readonly ReadOnlySpan<byte> _span;
    private int _position;

    public WireReader(ReadOnlySpan<byte> span)
    {
        _span = span;
        _position = 0;
    }

    public readonly int Remaining => _span.Length - _position;

    public readonly bool End => _position >= _span.Length;

    public byte ReadByte()
    {
        if (_position >= _span.Length)
            CodecErrors.Malformed("packet ends inside a field");
        return _span[_position++];
    }

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16BigEndian(ReadSpan(2));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(ReadSpan(4));

    /// <summary>Variable Byte Integer (1.5.5): at most 4 bytes, else malformed.</summary>
    public uint ReadVariableByteInteger()
    {
        uint value = 0;
        for (var i = 0; i < 4; i++)
        {
            var b = ReadByte();
            value |= (uint)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
                return value;
        }
        CodecErrors.Malformed("variable byte integer longer than 4 bytes");
        return 0;
    }

    public ReadOnlySpan<byte> ReadSpan(int length)
    {
        if ((uint)length > (uint)Remaining)
            CodecErrors.Malformed("packet ends inside a field");
        var result = _span.Slice(_position, length);
        _position += length;
        return result;
    }

    public ReadOnlySpan<byte> ReadRest() => ReadSpan(Remaining);

    /// <summary>Two-byte length followed by that many bytes (1.5.6 Binary Data; the raw bytes of 1.5.4 strings).</summary>
    public ReadOnlySpan<byte> ReadLengthPrefixed() => ReadSpan(ReadUInt16());

    public byte[] ReadBinary() => ReadLengthPrefixed().ToArray();

    public string ReadString() => DecodeString(ReadLengthPrefixed());

    /// <summary>
    /// UTF-8 Encoded String (1.5.4): ill-formed UTF-8 (which includes encoded surrogates) is malformed
    /// [MQTT-1.5.4-1] / [MQTT-1.5.3-1], and so is U+0000 [MQTT-1.5.4-2] / [MQTT-1.5.3-2].
    /// </summary>
    public static string DecodeString(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            return "";
        if (bytes.IndexOf((byte)0) >= 0)
            CodecErrors.Malformed("UTF-8 string contains U+0000 [MQTT-1.5.4-2]");
        if (!Utf8.IsValid(bytes))
            CodecErrors.Malformed("UTF-8 string is not well-formed [MQTT-1.5.4-1]");
        return Encoding.UTF8.GetString(bytes);
    }
}
