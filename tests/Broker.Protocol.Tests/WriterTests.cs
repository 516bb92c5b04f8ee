namespace Broker.Protocol.Tests;

/// <summary>Where the wire differs by version, the writer's exact bytes.</summary>
public sealed class WriterTests
{
    private const MqttProtocolVersion V310 = MqttProtocolVersion.V310;
    private const MqttProtocolVersion V311 = MqttProtocolVersion.V311;
    private const MqttProtocolVersion V5 = MqttProtocolVersion.V500;

    [Theory] // 3.2.2.3 and the mapping documented on MqttReasonCode
    [InlineData(MqttReasonCode.Success, 0)]
    [InlineData(MqttReasonCode.UnsupportedProtocolVersion, 1)]
    [InlineData(MqttReasonCode.ClientIdentifierNotValid, 2)]
    [InlineData(MqttReasonCode.ServerUnavailable, 3)]
    [InlineData(MqttReasonCode.BadUserNameOrPassword, 4)]
    [InlineData(MqttReasonCode.NotAuthorized, 5)]
    [InlineData(MqttReasonCode.Banned, 5)]
    [InlineData(MqttReasonCode.BadAuthenticationMethod, 4)]
    [InlineData(MqttReasonCode.ServerBusy, 3)]
    [InlineData(MqttReasonCode.UnspecifiedError, 3)]
    public void Write_ConnAckUnder311_MapsReasonCodeToReturnCode(MqttReasonCode code, byte expected)
    {
        var packet = new MqttConnAckPacket { ReasonCode = code, SessionPresent = true, Properties = new() { ReasonString = "x" } };
        Assert.Equal([0x20, 2, 1, expected], TestBuffers.Encode(packet, V311));
    }

    [Fact] // MQTT 3.1 has no Session Present
    public void Write_ConnAckUnder31_SessionPresentNotWritten() =>
        Assert.Equal([0x20, 2, 0, 0], TestBuffers.Encode(new MqttConnAckPacket { SessionPresent = true }, V310));

    [Fact]
    public void Write_ConnAckUnder5_ReasonCodeAndProperties()
    {
        var packet = new MqttConnAckPacket { ReasonCode = MqttReasonCode.Banned, Properties = new() { MaximumQos = 1 } };
        Assert.Equal([0x20, 5, 0, 0x8A, 2, 0x24, 1], TestBuffers.Encode(packet, V5));
    }

    [Fact] // [MQTT-3.9.3-2]: 3.1.1 knows only 0x80 as failure
    public void Write_SubAckUnder311_FailureCodesWrittenAs0x80()
    {
        var packet = new MqttSubAckPacket
        {
            PacketId = 1,
            ReasonCodes = [MqttReasonCode.GrantedQos1, MqttReasonCode.TopicFilterInvalid, MqttReasonCode.NotAuthorized],
        };
        Assert.Equal([0x90, 5, 0, 1, 1, 0x80, 0x80], TestBuffers.Encode(packet, V311));
        Assert.Equal([0x90, 6, 0, 1, 0, 1, 0x8F, 0x87], TestBuffers.Encode(packet, V5));
    }

    [Fact] // 3.11.3 (3.1.1): no payload
    public void Write_UnsubAckUnder311_NoPayload()
    {
        var packet = new MqttUnsubAckPacket { PacketId = 2, ReasonCodes = [MqttReasonCode.Success] };
        Assert.Equal([0xB0, 2, 0, 2], TestBuffers.Encode(packet, V311));
        Assert.Equal([0xB0, 4, 0, 2, 0, 0], TestBuffers.Encode(packet, V5));
    }

    [Theory] // 3.4.2.1: Success and no properties → Remaining Length 2
    [InlineData(MqttPacketType.PubAck, 0x40)]
    [InlineData(MqttPacketType.PubRec, 0x50)]
    [InlineData(MqttPacketType.PubRel, 0x62)]
    [InlineData(MqttPacketType.PubComp, 0x70)]
    public void Write_AckSuccessWithoutPropertiesUnder5_ShortForm(MqttPacketType type, byte firstByte)
    {
        Assert.Equal([firstByte, 2, 0, 9], TestBuffers.Encode(new MqttAckPacket(type) { PacketId = 9 }, V5));
        Assert.Equal([firstByte, 2, 0, 9],
            TestBuffers.Encode(new MqttAckPacket(type) { PacketId = 9, Properties = new() { UserProperties = [] } }, V5));
    }

    [Fact]
    public void Write_AckWithReasonCodeOnlyUnder5_RemainingLength3()
    {
        var packet = new MqttAckPacket(MqttPacketType.PubAck) { PacketId = 9, ReasonCode = MqttReasonCode.NoMatchingSubscribers };
        Assert.Equal([0x40, 3, 0, 9, 0x10], TestBuffers.Encode(packet, V5));
        Assert.Equal([0x40, 2, 0, 9], TestBuffers.Encode(packet, V311));
    }

    [Fact]
    public void Write_AckWithPropertiesUnder5_ReasonCodeAndProperties()
    {
        var packet = new MqttAckPacket(MqttPacketType.PubComp) { PacketId = 1, Properties = new() { ReasonString = "r" } };
        Assert.Equal([0x70, 8, 0, 1, 0, 4, 0x1F, 0, 1, (byte)'r'], TestBuffers.Encode(packet, V5));
    }

    [Fact] // 3.14.2.1
    public void Write_DisconnectNormalUnder5_RemainingLength0()
    {
        Assert.Equal([0xE0, 0], TestBuffers.Encode(new MqttDisconnectPacket(), V5));
        Assert.Equal([0xE0, 1, 0x8E], TestBuffers.Encode(new MqttDisconnectPacket { ReasonCode = MqttReasonCode.SessionTakenOver }, V5));
        Assert.Equal([0xE0, 0], TestBuffers.Encode(new MqttDisconnectPacket { ReasonCode = MqttReasonCode.SessionTakenOver }, V311));
    }

    [Fact]
    public void Write_Ping_TwoBytes()
    {
        Assert.Equal([0xC0, 0], TestBuffers.Encode(MqttPingReqPacket.Instance, V311));
        Assert.Equal([0xD0, 0], TestBuffers.Encode(MqttPingRespPacket.Instance, V5));
    }

    [Fact] // PUBLISH per-delivery properties come from the packet's own members, the message's from Properties
    public void Write_PublishUnder5_PerDeliveryPropertiesFromPacketFields()
    {
        var packet = new MqttPublishPacket
        {
            Topic = "t",
            TopicAlias = 2,
            MessageExpiryInterval = 10,
            SubscriptionIdentifiers = [1, 300],
            Properties = new() { ContentType = "c" },
            Payload = new byte[] { 0xAA },
        };
        byte[] expected =
        [
            0x30, 22, 0, 1, (byte)'t', 17,
            0x02, 0, 0, 0, 10,
            0x23, 0, 2,
            0x0B, 1,
            0x0B, 0xAC, 0x02,
            0x03, 0, 1, (byte)'c',
            0xAA,
        ];
        Assert.Equal(expected, TestBuffers.Encode(packet, V5));
        Assert.Equal(expected.Length, MqttPacketWriter.GetSize(packet, V5));
    }

    [Fact] // 3.x has no properties
    public void Write_PublishUnder311_NoProperties()
    {
        var packet = new MqttPublishPacket
        {
            Topic = "t", Qos = MqttQos.AtLeastOnce, PacketId = 1, Dup = true, Retain = true, TopicAlias = 3,
            Properties = new() { ContentType = "c" }, Payload = new byte[] { 1 },
        };
        Assert.Equal([0x3B, 6, 0, 1, (byte)'t', 0, 1, 1], TestBuffers.Encode(packet, V311));
    }

    [Fact] // a property the packet type may not carry is left off rather than sent
    public void Write_PropertyNotAllowedInPacketType_LeftOut()
    {
        var packet = new MqttSubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new("a", MqttQos.AtMostOnce)],
            Properties = new() { ReasonString = "no", SubscriptionIdentifier = 1 },
        };
        Assert.Equal([0x82, 9, 0, 1, 2, 0x0B, 1, 0, 1, (byte)'a', 0], TestBuffers.Encode(packet, V5));
    }

    [Fact]
    public void Write_SubscribeUnder311_OnlyQosInOptions()
    {
        var packet = new MqttSubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new("a", MqttQos.ExactlyOnce, true, true, MqttRetainHandling.DoNotSend)],
        };
        Assert.Equal([0x82, 6, 0, 1, 0, 1, (byte)'a', 2], TestBuffers.Encode(packet, V311));
        Assert.Equal([0x82, 7, 0, 1, 0, 0, 1, (byte)'a', 0x2E], TestBuffers.Encode(packet, V5));
    }

    [Fact]
    public void Write_ConnectUnder31_ProtocolNameMQIsdp()
    {
        var packet = new MqttConnectPacket { ProtocolVersion = V310, ClientId = "c", KeepAlive = 10 };
        Assert.Equal([0x10, 15, 0, 6, .. "MQIsdp"u8, 3, 0x02, 0, 10, 0, 1, (byte)'c'], TestBuffers.Encode(packet, V311));
    }

    [Fact]
    public void Write_AuthUnder311_Throws() =>
        Assert.Throws<ArgumentException>(() => TestBuffers.Encode(new MqttAuthPacket(), V311));

    [Fact]
    public void Write_UnknownVersion_Throws() =>
        Assert.Throws<ArgumentException>(() => TestBuffers.Encode(MqttPingReqPacket.Instance, MqttProtocolVersion.Unknown));

    [Fact]
    public void Write_StringLongerThan65535Bytes_Throws() =>
        Assert.Throws<ArgumentException>(() => TestBuffers.Encode(new MqttPublishPacket { Topic = new string('a', 70_000) }, V311));
}
