using System.Text;
using Broker.Abstractions;

namespace Broker.Plugins.Tests.Sdk;

/// <summary>The SDK's versioned binary form of a message, as plugins use it for files and hand-overs.</summary>
public sealed class BrokerMessageCodecTests
{
    private static readonly DateTimeOffset s_now = new(2026, 12, 5, 1, 0, 0, TimeSpan.Zero);

    internal static BrokerMessage Full() => new()
    {
        Topic = "a/b",
        Payload = new byte[] { 0, 1, 2, 0xff },
        Qos = MqttQos.ExactlyOnce,
        Retain = true,
        MessageExpiryInterval = 60,
        PublisherId = "pub-1",
        PublisherUsername = "alice",
        PublisherAddress = "192.0.2.7",
        OriginNode = "broker@10.0.0.1",
        Timestamp = s_now,
        IsSystem = true,
        Properties = new MessageProperties
        {
            PayloadFormatIndicator = 1,
            ContentType = "application/json",
            ResponseTopic = "reply/to",
            CorrelationData = new byte[] { 9, 8, 7 },
            UserProperties = [new("a", "1"), new("dup", "x"), new("dup", "y"), new("ü", "ñ")],
        },
    };

    private static byte[] Bytes(BrokerMessage message)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
            BrokerMessageCodec.Write(writer, message);
        return buffer.ToArray();
    }

    private static BrokerMessage Read(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        return BrokerMessageCodec.Read(reader);
    }

    /// <summary>The forwarded fields equal; with <paramref name="metadata"/> (version 2 and later) the id and publisher metadata too.</summary>
    internal static void AssertSame(BrokerMessage e, BrokerMessage a, bool metadata = false)
    {
        Assert.Equal((e.Topic, e.Qos, e.Retain, e.MessageExpiryInterval, e.PublisherId, e.Timestamp, e.IsSystem),
            (a.Topic, a.Qos, a.Retain, a.MessageExpiryInterval, a.PublisherId, a.Timestamp, a.IsSystem));
        if (metadata)
            Assert.Equal((e.Id, e.PublisherUsername, e.PublisherAddress, e.OriginNode), (a.Id, a.PublisherUsername, a.PublisherAddress, a.OriginNode));
        Assert.Equal(e.Payload.ToArray(), a.Payload.ToArray());
        Assert.Equal(e.Properties, a.Properties); // MessageProperties compares by content
    }

    [Fact]
    public void Read_WhatWriteWrote_EveryForwardedFieldKept()
    {
        var full = Full();
        AssertSame(full, Read(Bytes(full)), metadata: true);
        var bare = new BrokerMessage { Topic = "t", Timestamp = s_now };
        AssertSame(bare, Read(Bytes(bare)), metadata: true);
        Assert.Null(Read(Bytes(bare)).Properties);
    }

    [Fact]
    public void Write_Version2_BytesAsDocumented()
    {
        var message = new BrokerMessage { Topic = "t", Payload = "p"u8.ToArray(), Qos = MqttQos.AtLeastOnce, Retain = true, Timestamp = s_now, OriginNode = "n" };
        var bytes = Bytes(message);

        // version 2, topic "t", timestamp ticks, QoS 1, flags retain|id|node, id (32 hex digits), node "n",
        // payload length 1 and "p", no properties.
        byte[] expected = [2, 1, (byte)'t', .. BitConverter.GetBytes(s_now.UtcTicks), 1, 1 | 16 | 128,
            32, .. Encoding.ASCII.GetBytes(message.Id), 1, (byte)'n', 1, 0, 0, 0, (byte)'p', 0];
        Assert.Equal(expected, bytes);
        Assert.Matches("^[0-9a-f]{32}$", message.Id);
    }

    [Fact]
    public void Read_Version1_StillRead_GetsAFreshId()
    {
        // What SDK 1.4 wrote: version 1, topic "t", timestamp, QoS 1, flags retain|publisher, publisher "c", payload "p".
        byte[] version1 = [1, 1, (byte)'t', .. BitConverter.GetBytes(s_now.UtcTicks), 1, 1 | 4, 1, (byte)'c', 1, 0, 0, 0, (byte)'p', 0];

        var message = Read(version1);

        Assert.Equal(("t", "c", true, (string?)null, (string?)null), (message.Topic, message.PublisherId, message.Retain, message.PublisherUsername, message.OriginNode));
        Assert.Equal("p"u8.ToArray(), message.Payload.ToArray());
        Assert.Matches("^[0-9a-f]{32}$", message.Id);
    }

    [Fact]
    public void Id_MadeOnceOnFirstRead_KeptByCopies_UniquePerMessage()
    {
        var message = new BrokerMessage { Topic = "t", Timestamp = s_now };
        var id = message.Id;

        Assert.Equal(id, message.Id);
        Assert.Equal(id, (message with { Topic = "u" }).Id);
        Assert.NotEqual(id, new BrokerMessage { Topic = "t", Timestamp = s_now }.Id);
    }

    [Fact]
    public void Id_DistinctAcrossThreads_SortsByTimestamp()
    {
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 100_000, _ => ids.Add(new BrokerMessage { Topic = "t", Timestamp = s_now }.Id));
        var later = new BrokerMessage { Topic = "t", Timestamp = s_now.AddMilliseconds(1) }.Id;

        Assert.Equal(100_000, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
        Assert.All(ids, id => Assert.True(string.CompareOrdinal(id, later) < 0, $"{id} sorts after {later}, made 1 ms later"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(255)]
    public void Read_UnknownVersion_RefusedNotMisread(byte version)
    {
        var bytes = Bytes(Full());
        bytes[0] = version;

        var error = Assert.Throws<InvalidDataException>(() => Read(bytes));
        Assert.Contains($"version {version}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_CutShortAnywhere_InvalidData()
    {
        var bytes = Bytes(Full());
        for (var length = 0; length < bytes.Length; length++)
            Assert.Throws<InvalidDataException>(() => Read(bytes[..length]));
    }
}
