using System.Buffers;

namespace Broker.Protocol.Tests;

/// <summary>Helpers to encode packets and to cut encodings into multi-segment sequences.</summary>
internal static class TestBuffers
{
    public static byte[] Encode(MqttPacket packet, MqttProtocolVersion version)
    {
        var writer = new ArrayBufferWriter<byte>();
        MqttPacketWriter.Write(writer, packet, version);
        return writer.WrittenSpan.ToArray();
    }

    public static ReadOnlySequence<byte> Segmented(ReadOnlySpan<byte> bytes, int segmentSize)
    {
        if (bytes.Length == 0)
            return ReadOnlySequence<byte>.Empty;
        Segment? first = null;
        Segment? last = null;
        for (var offset = 0; offset < bytes.Length; offset += segmentSize)
        {
            var chunk = bytes.Slice(offset, Math.Min(segmentSize, bytes.Length - offset)).ToArray();
            if (last is null)
                first = last = new Segment(chunk, 0);
            else
                last = last.Append(chunk);
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>Decodes exactly one packet that must fill the whole buffer.</summary>
    public static MqttPacket DecodeSingle(byte[] bytes, MqttProtocolVersion version, int maxPacketSize = 0)
    {
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(MqttPacketReader.TryRead(ref sequence, version, maxPacketSize, out var packet));
        Assert.Equal(0, sequence.Length);
        return packet;
    }

    public static MqttProtocolException ReadFails(byte[] bytes, MqttProtocolVersion version, int maxPacketSize = 0)
    {
        var sequence = new ReadOnlySequence<byte>(bytes);
        return Assert.Throws<MqttProtocolException>(
            () => MqttPacketReader.TryRead(ref sequence, version, maxPacketSize, out _));
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

/// <summary>
/// An <see cref="IBufferWriter{T}"/> that hands out spans no larger than asked (min 1), like a pipe near its segment
/// end, and never more than <paramref name="maxSpan"/>, like a pipe's segments.
/// </summary>
internal sealed class StingyBufferWriter(int maxSpan = int.MaxValue) : IBufferWriter<byte>
{
    private readonly List<byte> _written = [];
    private byte[] _current = [];

    public byte[] WrittenBytes => [.. _written];

    public int GetSpanCalls { get; private set; }

    public void Advance(int count)
    {
        for (var i = 0; i < count; i++)
            _written.Add(_current[i]);
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        GetSpanCalls++;
        _current = new byte[Math.Min(Math.Max(sizeHint, 1), maxSpan)];
        return _current;
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
}
