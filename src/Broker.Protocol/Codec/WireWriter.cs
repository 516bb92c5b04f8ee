using System.Buffers.Binary;
using System.Text;

namespace Broker.Protocol.Codec;

/// <summary>Cursor over a span already sized by the size pass; the size pass and the write pass must agree.</summary>
internal ref struct WireWriter
{
    private readonly Span<byte> _span;
    private int _position;

    public WireWriter(Span<byte> span)
    {
        _span = span;
        _position = 0;
    }

    public readonly int Position => _position;

    public void WriteByte(byte value) => _span[_position++] = value;

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_span[_position..], value);
        _position += 2;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_span[_position..], value);
        _position += 4;
    }

    public void WriteVariableByteInteger(uint value)
    {
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            if (value != 0)
                b |= 0x80;
            _span[_position++] = b;
        }
        while (value != 0);
    }

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_span[_position..]);
        _position += bytes.Length;
    }

    public void WriteBinary(ReadOnlySpan<byte> bytes)
    {
        WriteUInt16((ushort)bytes.Length);
        WriteBytes(bytes);
    }

    public void WriteString(string value)
    {
        var length = Encoding.UTF8.GetBytes(value, _span[(_position + 2)..]);
        BinaryPrimitives.WriteUInt16BigEndian(_span[_position..], (ushort)length);
        _position += 2 + length;
    }

    public static int VariableByteIntegerSize(uint value) =>
        value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;

    /// <summary>Bytes of a UTF-8 Encoded String including its two-byte length.</summary>
    public static int StringSize(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        if (length > ushort.MaxValue)
            throw new ArgumentException($"string of {length} UTF-8 bytes is longer than 65535", nameof(value));
        return 2 + length;
    }

    public static int BinarySize(int length)
    {
        if (length > ushort.MaxValue)
            throw new ArgumentException($"binary data of {length} bytes is longer than 65535", nameof(length));
        return 2 + length;
    }
}
