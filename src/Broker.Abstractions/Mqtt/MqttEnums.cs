namespace Broker.Abstractions;

/// <summary>The protocol level byte of CONNECT.</summary>
public enum MqttProtocolVersion : byte
{
    /// <summary>Not yet known: before CONNECT has been read.</summary>
    Unknown = 0,
    /// <summary>MQTT 3.1, protocol name "MQIsdp".</summary>
    V310 = 3,
    /// <summary>MQTT 3.1.1, protocol name "MQTT".</summary>
    V311 = 4,
    /// <summary>MQTT 5.0, protocol name "MQTT".</summary>
    V500 = 5,
}

/// <summary>Control packet type: the high nibble of the first byte of the fixed header.</summary>
public enum MqttPacketType : byte
{
    /// <summary>1: Connect.</summary>
    Connect = 1,
    /// <summary>2: Conn Ack.</summary>
    ConnAck = 2,
    /// <summary>3: Publish.</summary>
    Publish = 3,
    /// <summary>4: Pub Ack.</summary>
    PubAck = 4,
    /// <summary>5: Pub Rec.</summary>
    PubRec = 5,
    /// <summary>6: Pub Rel.</summary>
    PubRel = 6,
    /// <summary>7: Pub Comp.</summary>
    PubComp = 7,
    /// <summary>8: Subscribe.</summary>
    Subscribe = 8,
    /// <summary>9: Sub Ack.</summary>
    SubAck = 9,
    /// <summary>10: Unsubscribe.</summary>
    Unsubscribe = 10,
    /// <summary>11: Unsub Ack.</summary>
    UnsubAck = 11,
    /// <summary>12: Ping Req.</summary>
    PingReq = 12,
    /// <summary>13: Ping Resp.</summary>
    PingResp = 13,
    /// <summary>14: Disconnect.</summary>
    Disconnect = 14,
    /// <summary>15: Auth.</summary>
    Auth = 15,
}

/// <summary>Quality of service of a message or subscription.</summary>
public enum MqttQos : byte
{
    /// <summary>0: At Most Once.</summary>
    AtMostOnce = 0,
    /// <summary>1: At Least Once.</summary>
    AtLeastOnce = 1,
    /// <summary>2: Exactly Once.</summary>
    ExactlyOnce = 2,
}

/// <summary>MQTT 5 subscription option "Retain Handling" (3.8.3.1).</summary>
public enum MqttRetainHandling : byte
{
    /// <summary>0: Send At Subscribe.</summary>
    SendAtSubscribe = 0,
    /// <summary>1: Send At Subscribe If New.</summary>
    SendAtSubscribeIfNew = 1,
    /// <summary>2: Do Not Send.</summary>
    DoNotSend = 2,
}

/// <summary>
/// MQTT 5 reason codes (2.4). MQTT 3.1.1 CONNACK return codes and SUBACK return codes are mapped onto
/// these by the codec: SUBACK 0/1/2/0x80 are the same bytes; CONNACK 1..5 map to
/// <see cref="UnsupportedProtocolVersion"/>, <see cref="ClientIdentifierNotValid"/>,
/// <see cref="ServerUnavailable"/>, <see cref="BadUserNameOrPassword"/>, <see cref="NotAuthorized"/>.
/// </summary>
public enum MqttReasonCode : byte
{
    /// <summary>0x00: Success.</summary>
    Success = 0x00,
    /// <summary>0x00: Normal Disconnection.</summary>
    NormalDisconnection = 0x00,
    /// <summary>0x00: Granted Qos0.</summary>
    GrantedQos0 = 0x00,
    /// <summary>0x01: Granted Qos1.</summary>
    GrantedQos1 = 0x01,
    /// <summary>0x02: Granted Qos2.</summary>
    GrantedQos2 = 0x02,
    /// <summary>0x04: Disconnect With Will Message.</summary>
    DisconnectWithWillMessage = 0x04,
    /// <summary>0x10: No Matching Subscribers.</summary>
    NoMatchingSubscribers = 0x10,
    /// <summary>0x11: No Subscription Existed.</summary>
    NoSubscriptionExisted = 0x11,
    /// <summary>0x18: Continue Authentication.</summary>
    ContinueAuthentication = 0x18,
    /// <summary>0x19: Re Authenticate.</summary>
    ReAuthenticate = 0x19,
    /// <summary>0x80: Unspecified Error.</summary>
    UnspecifiedError = 0x80,
    /// <summary>0x81: Malformed Packet.</summary>
    MalformedPacket = 0x81,
    /// <summary>0x82: Protocol Error.</summary>
    ProtocolError = 0x82,
    /// <summary>0x83: Implementation Specific Error.</summary>
    ImplementationSpecificError = 0x83,
    /// <summary>0x84: Unsupported Protocol Version.</summary>
    UnsupportedProtocolVersion = 0x84,
    /// <summary>0x85: Client Identifier Not Valid.</summary>
    ClientIdentifierNotValid = 0x85,
    /// <summary>0x86: Bad User Name Or Password.</summary>
    BadUserNameOrPassword = 0x86,
    /// <summary>0x87: Not Authorized.</summary>
    NotAuthorized = 0x87,
    /// <summary>0x88: Server Unavailable.</summary>
    ServerUnavailable = 0x88,
    /// <summary>0x89: Server Busy.</summary>
    ServerBusy = 0x89,
    /// <summary>0x8A: Banned.</summary>
    Banned = 0x8A,
    /// <summary>0x8B: Server Shutting Down.</summary>
    ServerShuttingDown = 0x8B,
    /// <summary>0x8C: Bad Authentication Method.</summary>
    BadAuthenticationMethod = 0x8C,
    /// <summary>0x8D: Keep Alive Timeout.</summary>
    KeepAliveTimeout = 0x8D,
    /// <summary>0x8E: Session Taken Over.</summary>
    SessionTakenOver = 0x8E,
    /// <summary>0x8F: Topic Filter Invalid.</summary>
    TopicFilterInvalid = 0x8F,
    /// <summary>0x90: Topic Name Invalid.</summary>
    TopicNameInvalid = 0x90,
    /// <summary>0x91: Packet Identifier In Use.</summary>
    PacketIdentifierInUse = 0x91,
    /// <summary>0x92: Packet Identifier Not Found.</summary>
    PacketIdentifierNotFound = 0x92,
    /// <summary>0x93: Receive Maximum Exceeded.</summary>
    ReceiveMaximumExceeded = 0x93,
    /// <summary>0x94: Topic Alias Invalid.</summary>
    TopicAliasInvalid = 0x94,
    /// <summary>0x95: Packet Too Large.</summary>
    PacketTooLarge = 0x95,
    /// <summary>0x96: Message Rate Too High.</summary>
    MessageRateTooHigh = 0x96,
    /// <summary>0x97: Quota Exceeded.</summary>
    QuotaExceeded = 0x97,
    /// <summary>0x98: Administrative Action.</summary>
    AdministrativeAction = 0x98,
    /// <summary>0x99: Payload Format Invalid.</summary>
    PayloadFormatInvalid = 0x99,
    /// <summary>0x9A: Retain Not Supported.</summary>
    RetainNotSupported = 0x9A,
    /// <summary>0x9B: Qos Not Supported.</summary>
    QosNotSupported = 0x9B,
    /// <summary>0x9C: Use Another Server.</summary>
    UseAnotherServer = 0x9C,
    /// <summary>0x9D: Server Moved.</summary>
    ServerMoved = 0x9D,
    /// <summary>0x9E: Shared Subscriptions Not Supported.</summary>
    SharedSubscriptionsNotSupported = 0x9E,
    /// <summary>0x9F: Connection Rate Exceeded.</summary>
    ConnectionRateExceeded = 0x9F,
    /// <summary>0xA0: Maximum Connect Time.</summary>
    MaximumConnectTime = 0xA0,
    /// <summary>0xA1: Subscription Identifiers Not Supported.</summary>
    SubscriptionIdentifiersNotSupported = 0xA1,
    /// <summary>0xA2: Wildcard Subscriptions Not Supported.</summary>
    WildcardSubscriptionsNotSupported = 0xA2,
}
