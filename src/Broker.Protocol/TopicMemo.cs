namespace Broker.Protocol;

/// <summary>
/// The topic of a connection's last PUBLISH, kept by the connection and handed to
/// <see cref="MqttPacketReader.TryRead(ref System.Buffers.ReadOnlySequence{byte}, Abstractions.MqttProtocolVersion, int, ref TopicMemo, out MqttPacket?)"/>:
/// a device mostly publishes to the same topic again, and then the bytes are compared instead of checked and decoded
/// again, and the message gets the same string (which later steps can compare by reference).
/// </summary>
public struct TopicMemo
{
    private byte[]? _bytes;
    private int _length;
    private string? _topic;

    /// <summary>The topic the bytes hold, if they are the last topic's; else null.</summary>
    internal readonly string? Lookup(ReadOnlySpan<byte> bytes) =>
        _topic is not null && bytes.SequenceEqual(_bytes.AsSpan(0, _length)) ? _topic : null;

    /// <summary>Remembers <paramref name="topic"/>, checked and decoded from <paramref name="bytes"/>.</summary>
    internal void Remember(ReadOnlySpan<byte> bytes, string topic)
    {
        if (_bytes is null || _bytes.Length < bytes.Length)
            _bytes = new byte[Math.Max(bytes.Length, 32)];
        bytes.CopyTo(_bytes);
        _length = bytes.Length;
        _topic = topic;
    }
}
