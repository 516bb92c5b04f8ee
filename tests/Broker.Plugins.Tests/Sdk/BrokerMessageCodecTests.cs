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
        Timestamp = s_now,
        IsSystem = true,
        Properties = new MqttProperties
        {
            PayloadFormatIndicator = 1,
            ContentType = "application/json",
            ResponseTopic = "reply/to",
            CorrelationData = [9, 8, 7],
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

    internal static void AssertSame(BrokerMessage e, BrokerMessage a)
    {
        Assert.Equal((e.Topic, e.Qos, e.Retain, e.MessageExpiryInterval, e.PublisherId, e.Timestamp, e.IsSystem),
            (a.Topic, a.Qos, a.Retain, a.MessageExpiryInterval, a.PublisherId, a.Timestamp, a.IsSystem));
        Assert.Equal(e.Payload.ToArray(), a.Payload.ToArray());
        Assert.Equal(e.Properties?.PayloadFormatIndicator, a.Properties?.PayloadFormatIndicator);
        Assert.Equal(e.Properties?.ContentType, a.Properties?.ContentType);
        Assert.Equal(e.Properties?.ResponseTopic, a.Properties?.ResponseTopic);
        Assert.Equal(e.Properties?.CorrelationData, a.Properties?.CorrelationData);
        Assert.Equal(e.Properties?.UserProperties, a.Properties?.UserProperties);
    }

    [Fact]
    public void Read_WhatWriteWrote_EveryForwardedFieldKept()
    {
        AssertSame(Full(), Read(Bytes(Full())));
        var bare = new BrokerMessage { Topic = "t", Timestamp = s_now };
        AssertSame(bare, Read(Bytes(bare)));
        Assert.Null(Read(Bytes(bare)).Properties);
    }

    [Fact]
    public void Write_Version1_BytesAsDocumented()
    {
        var bytes = Bytes(new BrokerMessage { Topic = "t", Payload = "p"u8.ToArray(), Qos = MqttQos.AtLeastOnce, Retain = true, Timestamp = s_now });

        // version 1, topic "t", timestamp ticks, QoS 1, flags retain, payload length 1 and "p", no properties.
        byte[] expected = [1, 1, (byte)'t', .. BitConverter.GetBytes(s_now.UtcTicks), 1, 1, 1, 0, 0, 0, (byte)'p', 0];
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
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
