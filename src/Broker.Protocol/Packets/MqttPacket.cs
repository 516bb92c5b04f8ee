namespace Broker.Protocol;

/// <summary>
/// One decoded MQTT control packet. The codec (<see cref="MqttPacketReader"/>, <see cref="MqttPacketWriter"/>)
/// reads and writes these; they carry no behaviour.
/// </summary>
public abstract class MqttPacket
{
    public abstract MqttPacketType Type { get; }
}

public sealed class MqttConnectPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Connect;
    public MqttProtocolVersion ProtocolVersion { get; set; } = MqttProtocolVersion.V311;
    /// <summary>Empty when the client sent a zero-length client id.</summary>
    public string ClientId { get; set; } = "";
    /// <summary>Clean Session (3.1.1) / Clean Start (5.0).</summary>
    public bool CleanSession { get; set; } = true;
    public ushort KeepAlive { get; set; }
    public string? Username { get; set; }
    public byte[]? Password { get; set; }
    /// <summary>Null when the Will Flag is 0.</summary>
    public string? WillTopic { get; set; }
    public byte[] WillPayload { get; set; } = [];
    public MqttQos WillQos { get; set; }
    public bool WillRetain { get; set; }
    public MqttProperties? WillProperties { get; set; }
    public MqttProperties? Properties { get; set; }
}

public sealed class MqttConnAckPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.ConnAck;
    public bool SessionPresent { get; set; }
    public MqttReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}

public sealed class MqttPublishPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Publish;
    /// <summary>May be empty in MQTT 5 when <see cref="TopicAlias"/> names an established alias.</summary>
    public string Topic { get; set; } = "";
    public ReadOnlyMemory<byte> Payload { get; set; }
    public MqttQos Qos { get; set; }
    public bool Retain { get; set; }
    public bool Dup { get; set; }
    /// <summary>0 at QoS 0.</summary>
    public ushort PacketId { get; set; }
    /// <summary>0 = no Topic Alias property.</summary>
    public ushort TopicAlias { get; set; }
    public uint? MessageExpiryInterval { get; set; }
    /// <summary>Property 0x0B, possibly several (one per matching subscription).</summary>
    public IReadOnlyList<uint>? SubscriptionIdentifiers { get; set; }
    /// <summary>Every other property (payload format, content type, response topic, correlation data, user properties).</summary>
    public MessageProperties? Properties { get; set; }
}

/// <summary>PUBACK, PUBREC, PUBREL or PUBCOMP.</summary>
public sealed class MqttAckPacket(MqttPacketType type) : MqttPacket
{
    public override MqttPacketType Type { get; } = type is MqttPacketType.PubAck or MqttPacketType.PubRec
        or MqttPacketType.PubRel or MqttPacketType.PubComp
        ? type : throw new ArgumentOutOfRangeException(nameof(type));
    public ushort PacketId { get; set; }
    public MqttReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}

public readonly record struct MqttTopicSubscription(
    string TopicFilter,
    MqttQos Qos,
    bool NoLocal = false,
    bool RetainAsPublished = false,
    MqttRetainHandling RetainHandling = MqttRetainHandling.SendAtSubscribe);

public sealed class MqttSubscribePacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Subscribe;
    public ushort PacketId { get; set; }
    public List<MqttTopicSubscription> Subscriptions { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}

public sealed class MqttSubAckPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.SubAck;
    public ushort PacketId { get; set; }
    /// <summary>One per requested filter; in 3.x any code of 0x80 or above is written as 0x80.</summary>
    public List<MqttReasonCode> ReasonCodes { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}

public sealed class MqttUnsubscribePacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Unsubscribe;
    public ushort PacketId { get; set; }
    public List<string> TopicFilters { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}

public sealed class MqttUnsubAckPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.UnsubAck;
    public ushort PacketId { get; set; }
    /// <summary>MQTT 5 only (3.x UNSUBACK has no payload).</summary>
    public List<MqttReasonCode> ReasonCodes { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}

public sealed class MqttPingReqPacket : MqttPacket
{
    public static readonly MqttPingReqPacket Instance = new();
    public override MqttPacketType Type => MqttPacketType.PingReq;
}

public sealed class MqttPingRespPacket : MqttPacket
{
    public static readonly MqttPingRespPacket Instance = new();
    public override MqttPacketType Type => MqttPacketType.PingResp;
}

public sealed class MqttDisconnectPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Disconnect;
    public MqttReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}

/// <summary>MQTT 5 only.</summary>
public sealed class MqttAuthPacket : MqttPacket
{
    public override MqttPacketType Type => MqttPacketType.Auth;
    public MqttReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}
