namespace Broker.Abstractions;

/// <summary>A name/value pair of MQTT 5 property 0x26. Order and duplicates are significant and preserved.</summary>
/// <param name="Name">The property name.</param>
/// <param name="Value">The property value.</param>
public readonly record struct MqttUserProperty(string Name, string Value);

/// <summary>
/// The MQTT 5 properties of one packet (2.2.2). A null member is "absent". Which properties a packet type
/// may carry is enforced by the codec: an unexpected one is a protocol error, a duplicate of a single-valued
/// one too.
/// </summary>
/// <remarks>
/// Plugins meet it as the CONNECT properties of <c>client.connect</c> and the CONNACK properties of
/// <c>client.connack</c>. A message's properties are the immutable <see cref="MessageProperties"/> (since SDK 2.0).
/// </remarks>
public sealed class MqttProperties
{
    /// <summary>Property 0x01: Payload Format Indicator.</summary>
    public byte? PayloadFormatIndicator { get; set; }
    /// <summary>Property 0x02: Message Expiry Interval (will properties only; PUBLISH: on the packet).</summary>
    public uint? MessageExpiryInterval { get; set; }
    /// <summary>Property 0x03: Content Type.</summary>
    public string? ContentType { get; set; }
    /// <summary>Property 0x08: Response Topic.</summary>
    public string? ResponseTopic { get; set; }
    /// <summary>Property 0x09: Correlation Data.</summary>
    public byte[]? CorrelationData { get; set; }
    /// <summary>0x0B: one in SUBSCRIBE (1..268,435,455). PUBLISH keeps its own on the packet.</summary>
    public uint? SubscriptionIdentifier { get; set; }
    /// <summary>Property 0x11: Session Expiry Interval.</summary>
    public uint? SessionExpiryInterval { get; set; }
    /// <summary>Property 0x12: Assigned Client Identifier.</summary>
    public string? AssignedClientIdentifier { get; set; }
    /// <summary>Property 0x13: Server Keep Alive.</summary>
    public ushort? ServerKeepAlive { get; set; }
    /// <summary>Property 0x15: Authentication Method.</summary>
    public string? AuthenticationMethod { get; set; }
    /// <summary>Property 0x16: Authentication Data.</summary>
    public byte[]? AuthenticationData { get; set; }
    /// <summary>Property 0x17: Request Problem Information.</summary>
    public byte? RequestProblemInformation { get; set; }
    /// <summary>Property 0x18: Will Delay Interval.</summary>
    public uint? WillDelayInterval { get; set; }
    /// <summary>Property 0x19: Request Response Information.</summary>
    public byte? RequestResponseInformation { get; set; }
    /// <summary>Property 0x1A: Response Information.</summary>
    public string? ResponseInformation { get; set; }
    /// <summary>Property 0x1C: Server Reference.</summary>
    public string? ServerReference { get; set; }
    /// <summary>Property 0x1F: Reason String.</summary>
    public string? ReasonString { get; set; }
    /// <summary>Property 0x21: Receive Maximum.</summary>
    public ushort? ReceiveMaximum { get; set; }
    /// <summary>Property 0x22: Topic Alias Maximum.</summary>
    public ushort? TopicAliasMaximum { get; set; }
    /// <summary>Property 0x24: Maximum Qos.</summary>
    public byte? MaximumQos { get; set; }
    /// <summary>Property 0x25: Retain Available.</summary>
    public byte? RetainAvailable { get; set; }
    /// <summary>Property 0x26: User Properties.</summary>
    public List<MqttUserProperty>? UserProperties { get; set; }
    /// <summary>Property 0x27: Maximum Packet Size.</summary>
    public uint? MaximumPacketSize { get; set; }
    /// <summary>Property 0x28: Wildcard Subscription Available.</summary>
    public byte? WildcardSubscriptionAvailable { get; set; }
    /// <summary>Property 0x29: Subscription Identifiers Available.</summary>
    public byte? SubscriptionIdentifiersAvailable { get; set; }
    /// <summary>Property 0x2A: Shared Subscription Available.</summary>
    public byte? SharedSubscriptionAvailable { get; set; }
}
