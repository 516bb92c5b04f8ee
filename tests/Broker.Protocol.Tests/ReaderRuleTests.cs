using System.Buffers;
using static Broker.Protocol.Tests.Wire;

namespace Broker.Protocol.Tests;

/// <summary>One test per rule the reader enforces, on hand-written bytes; names cite the normative statement.</summary>
public sealed class ReaderRuleTests
{
    private const MqttProtocolVersion V310 = MqttProtocolVersion.V310;
    private const MqttProtocolVersion V311 = MqttProtocolVersion.V311;
    private const MqttProtocolVersion V5 = MqttProtocolVersion.V500;
    private const MqttProtocolVersion Unknown = MqttProtocolVersion.Unknown;

    private static void Fails(MqttReasonCode expected, byte[] bytes, MqttProtocolVersion version, int max = 0) =>
        Assert.Equal(expected, TestBuffers.ReadFails(bytes, version, max).ReasonCode);

    private static T Reads<T>(byte[] bytes, MqttProtocolVersion version) where T : MqttPacket =>
        Assert.IsType<T>(TestBuffers.DecodeSingle(bytes, version));

    // ---- fixed header (2.1 / 2.2) ----

    [Fact]
    public void TryRead_PacketType0_Malformed() => Fails(MqttReasonCode.MalformedPacket, [0x00, 0x00], V311);

    [Fact]
    public void TryRead_PacketType15Under311_Malformed() => Fails(MqttReasonCode.MalformedPacket, [0xF0, 0x00], V311);

    [Fact]
    public void TryRead_PacketType15Under31_Malformed() => Fails(MqttReasonCode.MalformedPacket, [0xF0, 0x00], V310);

    [Fact] // [MQTT-3.6.1-1]
    public void TryRead_PubRelFlagsNot0010_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x60, U16(1)), V311);

    [Fact] // [MQTT-3.8.1-1]
    public void TryRead_SubscribeFlagsNot0010_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x80, U16(1), Str("a"), B(0)), V311);

    [Fact] // [MQTT-3.10.1-1]
    public void TryRead_UnsubscribeFlagsNot0010_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0xA3, U16(1), Str("a")), V5);

    [Theory] // [MQTT-2.2.2-1] / [MQTT-2.1.3-1]: every other type but PUBLISH has flags 0000
    [InlineData(0x21)]
    [InlineData(0x41)]
    [InlineData(0x58)]
    [InlineData(0x72)]
    [InlineData(0x94)]
    [InlineData(0xB2)]
    [InlineData(0xC1)]
    [InlineData(0xD8)]
    [InlineData(0xE2)]
    [InlineData(0xF4)]
    public void TryRead_ReservedFlagsSet_Malformed(byte firstByte) =>
        Fails(MqttReasonCode.MalformedPacket, [firstByte, 0x00], V5);

    [Fact] // MQTT 3.1 clients may set DUP on a PUBREL retry
    public void TryRead_PubRelWithDupUnder31_Accepted() =>
        Assert.Equal(MqttPacketType.PubRel, Reads<MqttAckPacket>(Packet(0x6A, U16(1)), V310).Type);

    [Fact]
    public void TryRead_PubRelWithDupUnder311_Malformed() => Fails(MqttReasonCode.MalformedPacket, Packet(0x6A, U16(1)), V311);

    [Fact] // 2.2.3 / 1.5.5: at most 4 bytes of Remaining Length; detected without waiting for a body
    public void TryRead_RemainingLengthOver4Bytes_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], V311);

    [Fact]
    public void TryRead_DeclaredSizeOverMaximum_PacketTooLargeBeforeBodyArrives() =>
        Fails(MqttReasonCode.PacketTooLarge, [0x30, 0xFF, 0xFF, 0xFF, 0x7F], V5, max: 1024);

    [Fact]
    public void TryRead_SizeExactlyMaximum_Accepted()
    {
        var bytes = Packet(0x30, Str("a/b"), B(1, 2, 3));
        Assert.IsType<MqttPublishPacket>(TestBuffers.DecodeSingle(bytes, V311, bytes.Length));
        Fails(MqttReasonCode.PacketTooLarge, bytes, V311, bytes.Length - 1);
    }

    [Fact]
    public void TryRead_BodyLongerThanItsFields_Malformed()
    {
        Fails(MqttReasonCode.MalformedPacket, Packet(0x40, U16(1), B(0)), V311); // 3.1.1 PUBACK is 2 bytes
        Fails(MqttReasonCode.MalformedPacket, Packet(0xC0, B(0)), V311); // PINGREQ is empty
        Fails(MqttReasonCode.MalformedPacket, Packet(0xB0, U16(1), NoProps, B(0), B(0)), V311);
    }

    [Fact]
    public void TryRead_BodyShorterThanItsFields_Malformed()
    {
        Fails(MqttReasonCode.MalformedPacket, Packet(0x30, B(0, 5, (byte)'a')), V311);
        Fails(MqttReasonCode.MalformedPacket, Packet(0x40, B(1)), V311);
        Fails(MqttReasonCode.MalformedPacket, Packet(0x20, B(0)), V5);
    }

    [Fact] // [MQTT-3.1.0-1]
    public void TryRead_FirstPacketNotConnect_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, [0xC0, 0x00], Unknown);

    [Fact] // [MQTT-3.1.0-2]
    public void TryRead_SecondConnect_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Connect311(0x02), V311);

    // ---- UTF-8 strings (1.5.4 / 1.5.3) ----

    [Fact] // [MQTT-1.5.4-1]
    public void TryRead_TopicNotWellFormedUtf8_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x30, Bin(0x61, 0xC3, 0x28)), V311);

    [Fact] // [MQTT-1.5.4-1]: UTF-16 surrogates encoded in UTF-8 are ill-formed
    public void TryRead_TopicWithEncodedSurrogate_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x30, Bin(0x61, 0xED, 0xA0, 0x80)), V5);

    [Fact] // [MQTT-1.5.4-2]
    public void TryRead_TopicWithNullCharacter_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x30, Bin(0x61, 0x00, 0x62)), V311);

    [Fact] // 1.5.4: control characters and non-characters "MAY" be treated as malformed; the broker accepts them
    public void TryRead_TopicWithControlCharacterOrNonCharacter_Accepted() =>
        Assert.Equal("a\u0001\uFFFF", Reads<MqttPublishPacket>(Packet(0x30, Str("a\u0001\uFFFF")), V311).Topic);

    [Fact] // [MQTT-1.5.4-2]
    public void TryRead_ClientIdWithNullCharacter_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x10, Str("MQTT"), B(4, 2), U16(0), Bin(0x00)), Unknown);

    // ---- CONNECT (3.1) ----

    [Theory]
    [InlineData("MQTT", 4, MqttProtocolVersion.V311)]
    [InlineData("MQTT", 5, MqttProtocolVersion.V500)]
    [InlineData("MQIsdp", 3, MqttProtocolVersion.V310)]
    [InlineData("MQTT", 0x84, MqttProtocolVersion.V311)] // mosquitto bridge bit
    public void TryRead_ConnectNameAndLevel_GivesVersion(string name, byte level, MqttProtocolVersion expected)
    {
        var props = expected == MqttProtocolVersion.V500 ? NoProps : [];
        var connect = Reads<MqttConnectPacket>(Packet(0x10, Str(name), B(level, 0x02), U16(30), props, Str("id")), Unknown);
        Assert.Equal(expected, connect.ProtocolVersion);
        Assert.Equal("id", connect.ClientId);
        Assert.Equal(30, connect.KeepAlive);
        Assert.True(connect.CleanSession);
    }

    [Theory] // [MQTT-3.1.2-2]: refuse with a CONNACK the client can read
    [InlineData("MQTT", 6, MqttProtocolVersion.V500)]
    [InlineData("MQTT", 3, MqttProtocolVersion.V311)]
    [InlineData("MQTT", 0, MqttProtocolVersion.V311)]
    [InlineData("MQIsdp", 4, MqttProtocolVersion.V310)]
    public void TryRead_ConnectUnknownLevel_UnsupportedProtocolVersionWithResponseVersion(string name, byte level,
        MqttProtocolVersion responseVersion)
    {
        var e = TestBuffers.ReadFails(Packet(0x10, Str(name), B(level, 0x02), U16(30), Str("id")), Unknown);
        Assert.Equal(MqttReasonCode.UnsupportedProtocolVersion, e.ReasonCode);
        Assert.Equal(responseVersion, e.ResponseVersion);
    }

    [Fact] // [MQTT-3.1.2-1]
    public void TryRead_ConnectUnknownProtocolName_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x10, Str("MQTX"), B(4, 0x02), U16(30), Str("id")), Unknown);

    [Fact] // 3.1.4: a 5.0 server may answer a bad CONNECT with CONNACK 0x81, so the version must be known
    public void TryRead_MalformedConnectAfterLevel_ResponseVersionIsClientVersion()
    {
        var e = TestBuffers.ReadFails(Connect5(NoProps, 0x03), Unknown);
        Assert.Equal(MqttReasonCode.MalformedPacket, e.ReasonCode);
        Assert.Equal(MqttProtocolVersion.V500, e.ResponseVersion);
    }

    [Fact] // [MQTT-3.1.2-3]
    public void TryRead_ConnectReservedFlagSet_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Connect311(0x03), Unknown);

    [Fact] // [MQTT-3.1.2-13]
    public void TryRead_ConnectWillQosWithoutWillFlag_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Connect311(0x0A), Unknown);

    [Fact] // [MQTT-3.1.2-15]
    public void TryRead_ConnectWillRetainWithoutWillFlag_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Connect311(0x22), Unknown);

    [Fact] // [MQTT-3.1.2-14]
    public void TryRead_ConnectWillQos3_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Connect311(0x1E, Str("w"), Bin(1)), Unknown);

    [Fact] // [MQTT-3.1.2-22]
    public void TryRead_ConnectPasswordWithoutUsernameUnder311_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Connect311(0x42, Bin(1, 2)), Unknown);

    [Fact] // 3.1.2.9: MQTT 5 allows a password without a user name
    public void TryRead_ConnectPasswordWithoutUsernameUnder5_Accepted()
    {
        var connect = Reads<MqttConnectPacket>(Connect5(NoProps, 0x42, Bin(1, 2)), Unknown);
        Assert.Null(connect.Username);
        Assert.Equal([1, 2], connect.Password);
    }

    [Fact]
    public void TryRead_ConnectWithWillUserAndPassword_AllFieldsRead()
    {
        var connect = Reads<MqttConnectPacket>(Connect311(0xEC, Str("w/t"), Bin(9), Str("u"), Bin(7)), Unknown);
        Assert.Equal("w/t", connect.WillTopic);
        Assert.Equal([9], connect.WillPayload);
        Assert.Equal(MqttQos.AtLeastOnce, connect.WillQos);
        Assert.True(connect.WillRetain);
        Assert.Equal("u", connect.Username);
        Assert.Equal([7], connect.Password);
    }

    [Fact] // [MQTT-3.1.3-11]: the will topic is a topic name
    public void TryRead_ConnectWillTopicWithWildcard_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Connect311(0x06, Str("a/#"), Bin(1)), Unknown);

    [Fact] // 3.1.3.2.3
    public void TryRead_ConnectWillPayloadFormatUtf8ButBinary_PayloadFormatInvalid() =>
        Fails(MqttReasonCode.PayloadFormatInvalid, Connect5(NoProps, 0x06, Props(B(0x01, 1)), Str("w"), Bin(0xFF, 0xFE)), Unknown);

    [Fact] // 2.2.2.2 / Table 2-4: Topic Alias is not a CONNECT property, so the packet is malformed (CONNACK 0x81)
    public void TryRead_ConnectWithPropertyNotValidForConnect_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Connect5(Props(B(0x23, 0, 1))), Unknown);

    [Theory] // 2.2.2.2: server-to-client properties in a CONNECT are not valid for its packet type
    [InlineData(new byte[] { 0x24, 1 })] // Maximum QoS
    [InlineData(new byte[] { 0x25, 1 })] // Retain Available
    [InlineData(new byte[] { 0x28, 1 })] // Wildcard Subscription Available
    [InlineData(new byte[] { 0x13, 0, 9 })] // Server Keep Alive
    public void TryRead_ConnectWithConnAckProperty_Malformed(byte[] property) =>
        Fails(MqttReasonCode.MalformedPacket, Connect5(Props(property)), Unknown);

    [Fact] // 2.2.2.2 / Table 2-4: Topic Alias is not a will property
    public void TryRead_ConnectWillPropertyNotValidForWill_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Connect5(NoProps, 0x06, Props(B(0x23, 0, 1)), Str("w"), Bin(1)), Unknown);

    [Fact] // 3.1.3.2.2: "It is a Protocol Error to include the Will Delay Interval more than once"
    public void TryRead_ConnectDuplicateWillDelay_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError,
            Connect5(NoProps, 0x06, Props(B(0x18, 0, 0, 0, 1), B(0x18, 0, 0, 0, 1)), Str("w"), Bin(1)), Unknown);

    [Fact] // 3.1.2.11.3
    public void TryRead_ConnectReceiveMaximum0_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Connect5(Props(B(0x21, 0, 0))), Unknown);

    [Fact] // 3.1.2.11.4
    public void TryRead_ConnectMaximumPacketSize0_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Connect5(Props(B(0x27, 0, 0, 0, 0))), Unknown);

    [Theory] // 3.1.2.11.6 / 3.1.2.11.7
    [InlineData(0x17)]
    [InlineData(0x19)]
    public void TryRead_ConnectRequestInformationNot0Or1_ProtocolError(byte id) =>
        Fails(MqttReasonCode.ProtocolError, Connect5(Props(B(id, 2))), Unknown);

    [Fact] // 3.1.2.11.10
    public void TryRead_ConnectAuthenticationDataWithoutMethod_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Connect5(Props(B(0x16), Bin(1))), Unknown);

    [Fact] // 2.2.2.2: "It is a Protocol Error to include ... more than once"
    public void TryRead_ConnectDuplicateSessionExpiry_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Connect5(Props(B(0x11, 0, 0, 0, 1), B(0x11, 0, 0, 0, 2))), Unknown);

    // ---- CONNACK (3.2) ----

    [Fact] // [MQTT-3.2.2-1]
    public void TryRead_ConnAckReservedFlags_Malformed() => Fails(MqttReasonCode.MalformedPacket, [0x20, 2, 0x02, 0], V311);

    [Theory] // 3.2.2.3: 3.1.1 return codes map onto reason codes
    [InlineData(0, MqttReasonCode.Success)]
    [InlineData(1, MqttReasonCode.UnsupportedProtocolVersion)]
    [InlineData(2, MqttReasonCode.ClientIdentifierNotValid)]
    [InlineData(3, MqttReasonCode.ServerUnavailable)]
    [InlineData(4, MqttReasonCode.BadUserNameOrPassword)]
    [InlineData(5, MqttReasonCode.NotAuthorized)]
    public void TryRead_ConnAck311ReturnCode_MapsToReasonCode(byte code, MqttReasonCode expected) =>
        Assert.Equal(expected, Reads<MqttConnAckPacket>([0x20, 2, 0, code], V311).ReasonCode);

    [Fact]
    public void TryRead_ConnAck311ReservedReturnCode_Malformed() => Fails(MqttReasonCode.MalformedPacket, [0x20, 2, 0, 6], V311);

    [Theory] // 3.2.2.3.4 ff.: byte properties that are 0 or 1
    [InlineData(0x24)]
    [InlineData(0x25)]
    [InlineData(0x28)]
    [InlineData(0x29)]
    [InlineData(0x2A)]
    public void TryRead_ConnAckAvailabilityNot0Or1_ProtocolError(byte id) =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x20, B(0, 0), Props(B(id, 2))), V5);

    // ---- PUBLISH (3.3) ----

    [Fact] // [MQTT-3.3.1-4]
    public void TryRead_PublishQos3_Malformed() => Fails(MqttReasonCode.MalformedPacket, Packet(0x36, Str("a"), U16(1)), V311);

    [Fact] // [MQTT-3.3.1-2]
    public void TryRead_PublishDupAtQos0_Malformed() => Fails(MqttReasonCode.MalformedPacket, Packet(0x38, Str("a")), V311);

    [Theory] // [MQTT-3.3.2-2]
    [InlineData("a/+")]
    [InlineData("#")]
    [InlineData("a/b#")]
    public void TryRead_PublishTopicWithWildcard_Malformed(string topic) =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x30, Str(topic)), V311);

    [Fact] // [MQTT-4.7.3-1]
    public void TryRead_PublishEmptyTopicUnder311_Malformed() => Fails(MqttReasonCode.MalformedPacket, Packet(0x30, Str("")), V311);

    [Fact] // 3.3.2.3.4: empty topic needs a Topic Alias
    public void TryRead_PublishEmptyTopicWithoutAliasUnder5_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x30, Str(""), NoProps), V5);

    [Fact]
    public void TryRead_PublishEmptyTopicWithAliasUnder5_Accepted()
    {
        var publish = Reads<MqttPublishPacket>(Packet(0x30, Str(""), Props(B(0x23, 0, 7)), B(1, 2)), V5);
        Assert.Equal("", publish.Topic);
        Assert.Equal(7, publish.TopicAlias);
        Assert.Null(publish.Properties);
        Assert.Equal([1, 2], publish.Payload.ToArray());
    }

    [Fact] // [MQTT-3.3.2-8]
    public void TryRead_PublishTopicAlias0_TopicAliasInvalid() =>
        Fails(MqttReasonCode.TopicAliasInvalid, Packet(0x30, Str("a"), Props(B(0x23, 0, 0))), V5);

    [Fact] // [MQTT-2.3.1-1]
    public void TryRead_PublishQos1PacketId0_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x32, Str("a"), U16(0)), V311);

    [Fact] // 3.3.2.3.2
    public void TryRead_PublishPayloadFormatUtf8ButBinary_PayloadFormatInvalid() =>
        Fails(MqttReasonCode.PayloadFormatInvalid, Packet(0x30, Str("a"), Props(B(0x01, 1)), B(0xC3, 0x28)), V5);

    [Fact] // 3.3.2.3.2
    public void TryRead_PublishPayloadFormatNot0Or1_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x30, Str("a"), Props(B(0x01, 2))), V5);

    [Fact] // per-delivery properties go to the packet, the rest to Properties
    public void TryRead_PublishProperties_SplitBetweenPacketFieldsAndProperties()
    {
        var publish = Reads<MqttPublishPacket>(Packet(0x3B, Str("a/b"), U16(9),
            Props(B(0x02, 0, 0, 0, 60), B(0x0B, 5), B(0x0B, 0x80, 0x01), B(0x23, 0, 3), B(0x01, 1), B(0x26), Str("k"), Str("v")),
            B((byte)'h', (byte)'i')), V5);
        Assert.Equal(MqttQos.AtLeastOnce, publish.Qos);
        Assert.True(publish.Dup);
        Assert.True(publish.Retain);
        Assert.Equal(9, publish.PacketId);
        Assert.Equal(60u, publish.MessageExpiryInterval);
        Assert.Equal([5u, 128u], publish.SubscriptionIdentifiers);
        Assert.Equal(3, publish.TopicAlias);
        Assert.NotNull(publish.Properties);
        Assert.Equal((byte)1, publish.Properties.PayloadFormatIndicator);
        Assert.Equal([new MqttUserProperty("k", "v")], publish.Properties.UserProperties);
    }

    [Fact] // 3.3.2.3.8
    public void TryRead_PublishSubscriptionIdentifier0_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x30, Str("a"), Props(B(0x0B, 0))), V5);

    [Fact] // 2.2.2.2 / Table 2-4: Reason String is not a PUBLISH property
    public void TryRead_PublishReasonString_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x30, Str("a"), Props(B(0x1F), Str("x"))), V5);

    [Fact] // 3.3.2.3.2: "It is a Protocol Error to include the Payload Format Indicator more than once"
    public void TryRead_PublishDuplicatePayloadFormatIndicator_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x30, Str("a"), Props(B(0x01, 0), B(0x01, 0))), V5);

    [Fact] // 3.3.2.3.3 ff.: Message Expiry Interval likewise (a duplicate check per identifier, not per field)
    public void TryRead_PublishDuplicateMessageExpiry_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x30, Str("a"), Props(B(0x02, 0, 0, 0, 1), B(0x02, 0, 0, 0, 1))), V5);

    [Fact]
    public void TryRead_PublishDuplicateTopicAlias_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x30, Str("a"), Props(B(0x23, 0, 1), B(0x23, 0, 2))), V5);

    [Fact] // [MQTT-3.3.2-14]
    public void TryRead_PublishResponseTopicWithWildcard_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x30, Str("a"), Props(B(0x08), Str("r/+"))), V5);

    // ---- properties in general (2.2.2) ----

    [Fact] // 1.5.5
    public void TryRead_PropertyLengthOver4Bytes_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x30, Str("a"), B(0xFF, 0xFF, 0xFF, 0xFF, 0x01)), V5);

    [Fact]
    public void TryRead_PropertyLengthPastEnd_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x40, U16(1), B(0x00, 10, 0x1F)), V5);

    [Fact]
    public void TryRead_PropertyValuePastPropertyLength_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x40, U16(1), B(0x00, 2, 0x1F, 0, 5, (byte)'a')), V5);

    [Fact]
    public void TryRead_UnknownPropertyIdentifier_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x40, U16(1), B(0x00), Props(B(0x7F, 0))), V5);

    [Fact]
    public void TryRead_DuplicateReasonString_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x40, U16(1), B(0x00), Props(B(0x1F), Str("a"), B(0x1F), Str("b"))), V5);

    [Fact] // 3.4.2.2.3: User Property may repeat
    public void TryRead_RepeatedUserProperty_AllKeptInOrder()
    {
        var ack = Reads<MqttAckPacket>(Packet(0x40, U16(1), B(0x10),
            Props(B(0x26), Str("k"), Str("1"), B(0x26), Str("k"), Str("2"))), V5);
        Assert.Equal(MqttReasonCode.NoMatchingSubscribers, ack.ReasonCode);
        Assert.Equal([new("k", "1"), new("k", "2")], ack.Properties!.UserProperties!);
    }

    // ---- acks, DISCONNECT, AUTH short forms (3.4.2.1, 3.14.2.1, 3.15.2.1) ----

    [Fact]
    public void TryRead_PubAckRemainingLength2Under5_SuccessWithoutProperties()
    {
        var ack = Reads<MqttAckPacket>([0x40, 2, 0, 5], V5);
        Assert.Equal(5, ack.PacketId);
        Assert.Equal(MqttReasonCode.Success, ack.ReasonCode);
        Assert.Null(ack.Properties);
    }

    [Fact]
    public void TryRead_PubRecRemainingLength3Under5_ReasonCodeWithoutProperties() =>
        Assert.Equal(MqttReasonCode.QuotaExceeded, Reads<MqttAckPacket>([0x50, 3, 0, 5, 0x97], V5).ReasonCode);

    [Fact] // [MQTT-2.3.1-1]
    public void TryRead_PubAckPacketId0_ProtocolError() => Fails(MqttReasonCode.ProtocolError, [0x40, 2, 0, 0], V311);

    // ---- reason codes each packet may carry (Tables 3-1, 3-4 ... 3-11): an undefined one parses as a byte, so it is
    // data "not allowed by the protocol", a Protocol Error (1.2), not a Malformed Packet ----

    [Theory] // [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] [MQTT-3.14.2-1]
    [InlineData(0x40, new byte[] { 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99 })] // Table 3-4
    [InlineData(0x50, new byte[] { 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99 })] // Table 3-5
    [InlineData(0x62, new byte[] { 0x00, 0x92 })] // Table 3-6
    [InlineData(0x70, new byte[] { 0x00, 0x92 })] // Table 3-7
    [InlineData(0xE0, new byte[] { 0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90,
        0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2 })] // Table 3-10
    public void TryRead_ReasonCodeNotInItsTable_ProtocolError(byte firstByte, byte[] table)
    {
        for (var code = 0; code < 256; code++)
        {
            byte[] bytes = firstByte == 0xE0 ? [firstByte, 1, (byte)code] : [firstByte, 3, 0, 1, (byte)code];
            if (!table.Contains((byte)code))
            {
                Fails(MqttReasonCode.ProtocolError, bytes, V5);
                continue;
            }
            var read = TestBuffers.DecodeSingle(bytes, V5) switch
            {
                MqttAckPacket ack => ack.ReasonCode,
                MqttDisconnectPacket disconnect => disconnect.ReasonCode,
                var other => throw new InvalidOperationException(other.Type.ToString()),
            };
            Assert.Equal((MqttReasonCode)code, read);
        }
    }

    [Theory] // [MQTT-3.15.2-1]: Table 3-11 has 0x00, 0x18, 0x19
    [InlineData(0x01)]
    [InlineData(0x80)]
    [InlineData(0x87)]
    public void TryRead_AuthUndefinedReasonCode_ProtocolError(byte code) =>
        Fails(MqttReasonCode.ProtocolError, Packet(0xF0, B(code), Props(B(0x15), Str("m"))), V5);

    [Fact] // [MQTT-3.2.2-8]: Table 3-1 (read by clients such as the bench)
    public void TryRead_ConnAckUndefinedReasonCode_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x20, B(0, 0x8B), NoProps), V5);

    [Fact] // [MQTT-3.9.3-2] (5.0): Table 3-8
    public void TryRead_SubAckUndefinedReasonCode_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x90, U16(1), NoProps, B(0x03)), V5);

    [Fact] // [MQTT-3.11.3-2]: Table 3-9
    public void TryRead_UnsubAckUndefinedReasonCode_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0xB0, U16(1), NoProps, B(0x01)), V5);

    [Fact] // 2.2.2.2 / Table 2-4: PUBACK takes only Reason String and User Property
    public void TryRead_PubAckWithPropertyNotValidForPubAck_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x40, U16(1), B(0x00), Props(B(0x11, 0, 0, 0, 1))), V5);

    [Fact] // 2.2.2.2 / Table 2-4: Session Expiry, Server Reference, Reason String and User Property only
    public void TryRead_DisconnectWithPropertyNotValidForDisconnect_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0xE0, B(0x00), Props(B(0x21, 0, 1))), V5);

    [Fact]
    public void TryRead_DisconnectRemainingLength0Under5_Normal() =>
        Assert.Equal(MqttReasonCode.NormalDisconnection, Reads<MqttDisconnectPacket>([0xE0, 0], V5).ReasonCode);

    [Fact]
    public void TryRead_DisconnectWithBodyUnder311_Malformed() => Fails(MqttReasonCode.MalformedPacket, [0xE0, 1, 0], V311);

    [Fact]
    public void TryRead_AuthRemainingLength0_Success() =>
        Assert.Equal(MqttReasonCode.Success, Reads<MqttAuthPacket>([0xF0, 0], V5).ReasonCode);

    // ---- SUBSCRIBE (3.8) ----

    [Fact] // [MQTT-3.8.3-3] (5.0: [MQTT-3.8.3-2])
    public void TryRead_SubscribeWithoutFilters_ProtocolError()
    {
        Fails(MqttReasonCode.ProtocolError, Packet(0x82, U16(1)), V311);
        Fails(MqttReasonCode.ProtocolError, Packet(0x82, U16(1), NoProps), V5);
    }

    [Fact] // [MQTT-2.3.1-1]
    public void TryRead_SubscribePacketId0_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x82, U16(0), Str("a"), B(0)), V311);

    [Theory] // [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1]
    [InlineData("a/#/b")]
    [InlineData("a+")]
    [InlineData("")]
    public void TryRead_SubscribeInvalidFilter_Malformed(string filter) =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x82, U16(1), Str(filter), B(0)), V311);

    [Fact] // [MQTT-3.8.3-4] (3.1.1)
    public void TryRead_SubscribeReservedBitsUnder311_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x82, U16(1), Str("a"), B(0x04)), V311);

    [Fact] // [MQTT-3.8.3-5]
    public void TryRead_SubscribeReservedBitsUnder5_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x82, U16(1), NoProps, Str("a"), B(0x40)), V5);

    [Fact] // [MQTT-3.8.3-4] (3.1.1): "QoS is not 0, 1 or 2" is malformed
    public void TryRead_SubscribeQos3Under311_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x82, U16(1), Str("a"), B(3)), V311);

    [Fact] // 5.0 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3"
    public void TryRead_SubscribeQos3Under5_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x82, U16(1), NoProps, Str("a"), B(3)), V5);

    [Fact] // [MQTT-3.8.3-5] decides before 3.8.3.1 when both apply: reserved bits make the packet malformed
    public void TryRead_SubscribeReservedBitsAndQos3Under5_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x82, U16(1), NoProps, Str("a"), B(0x83)), V5);

    [Theory] // 2.2.2.2 / Table 2-4: SUBSCRIBE takes only Subscription Identifier and User Property
    [InlineData(new byte[] { 0x1F, 0, 0 })] // Reason String
    [InlineData(new byte[] { 0x11, 0, 0, 0, 1 })] // Session Expiry Interval
    [InlineData(new byte[] { 0x23, 0, 1 })] // Topic Alias
    public void TryRead_SubscribeWithPropertyNotValidForSubscribe_Malformed(byte[] property) =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x82, U16(1), Props(property), Str("a"), B(0)), V5);

    [Fact] // 3.8.3.1
    public void TryRead_SubscribeRetainHandling3_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x82, U16(1), NoProps, Str("a"), B(0x30)), V5);

    [Fact] // [MQTT-3.8.3-4] (5.0)
    public void TryRead_SubscribeNoLocalOnSharedSubscription_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x82, U16(1), NoProps, Str("$share/g/a"), B(0x04)), V5);

    [Fact] // 3.8.2.1.2
    public void TryRead_SubscribeSubscriptionIdentifier0_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x82, U16(1), Props(B(0x0B, 0)), Str("a"), B(0)), V5);

    [Fact] // 3.8.2.1.2: only PUBLISH may carry several
    public void TryRead_SubscribeTwoSubscriptionIdentifiers_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0x82, U16(1), Props(B(0x0B, 1), B(0x0B, 2)), Str("a"), B(0)), V5);

    [Fact]
    public void TryRead_SubscribeOptionsUnder5_AllDecoded()
    {
        var subscribe = Reads<MqttSubscribePacket>(
            Packet(0x82, U16(3), Props(B(0x0B, 0x81, 0x01)), Str("a/+"), B(0x2E), Str("$share/g/#"), B(0x01)), V5);
        Assert.Equal(3, subscribe.PacketId);
        Assert.Equal(129u, subscribe.Properties!.SubscriptionIdentifier);
        Assert.Equal(new MqttTopicSubscription("a/+", MqttQos.ExactlyOnce, true, true, MqttRetainHandling.DoNotSend),
            subscribe.Subscriptions[0]);
        Assert.Equal(new MqttTopicSubscription("$share/g/#", MqttQos.AtLeastOnce), subscribe.Subscriptions[1]);
    }

    // ---- SUBACK, UNSUBSCRIBE, UNSUBACK (3.9 - 3.11) ----

    [Fact] // [MQTT-3.9.3-2]
    public void TryRead_SubAck311ReservedReturnCode_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0x90, U16(1), B(0x8F)), V311);

    [Fact] // [MQTT-3.10.3-2]
    public void TryRead_UnsubscribeWithoutFilters_ProtocolError()
    {
        Fails(MqttReasonCode.ProtocolError, Packet(0xA2, U16(1)), V311);
        Fails(MqttReasonCode.ProtocolError, Packet(0xA2, U16(1), NoProps), V5);
    }

    [Fact] // [MQTT-2.3.1-1]
    public void TryRead_UnsubscribePacketId0_ProtocolError() =>
        Fails(MqttReasonCode.ProtocolError, Packet(0xA2, U16(0), Str("a")), V311);

    [Theory] // 2.2.2.2 / Table 2-4: UNSUBSCRIBE takes only User Property
    [InlineData(new byte[] { 0x0B, 1 })] // Subscription Identifier
    [InlineData(new byte[] { 0x1F, 0, 0 })] // Reason String
    public void TryRead_UnsubscribeWithPropertyNotValidForUnsubscribe_Malformed(byte[] property) =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0xA2, U16(1), Props(property), Str("a")), V5);

    [Fact]
    public void TryRead_UnsubscribeInvalidFilter_Malformed() =>
        Fails(MqttReasonCode.MalformedPacket, Packet(0xA2, U16(1), Str("a/#/b")), V311);

    [Fact]
    public void TryRead_UnsubAck311_NoReasonCodes()
    {
        var unsubAck = Reads<MqttUnsubAckPacket>(Packet(0xB0, U16(4)), V311);
        Assert.Equal(4, unsubAck.PacketId);
        Assert.Empty(unsubAck.ReasonCodes);
    }

    // ---- framing ----

    [Fact]
    public void TryRead_Success_AdvancesPastOnePacketOnly()
    {
        var buffer = new ReadOnlySequence<byte>([0xC0, 0x00, 0xD0]);
        Assert.True(MqttPacketReader.TryRead(ref buffer, V311, 0, out _));
        Assert.Equal(1, buffer.Length);
        Assert.False(MqttPacketReader.TryRead(ref buffer, V311, 0, out _));
        Assert.Equal(1, buffer.Length);
    }

    [Fact]
    public void TryRead_HeaderSplitAcrossSegments_Decodes()
    {
        var bytes = Packet(0x30, Str("t"), new byte[300]);
        var sequence = TestBuffers.Segmented(bytes, 1);
        Assert.True(MqttPacketReader.TryRead(ref sequence, V311, 0, out var packet));
        Assert.Equal(300, Assert.IsType<MqttPublishPacket>(packet).Payload.Length);
    }
}
