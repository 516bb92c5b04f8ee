using System.Collections.Immutable;

namespace Broker.Protocol.Codec;

/// <summary>Where a property block sits; decides which property identifiers are allowed (MQTT 5.0, 2.2.2.2).</summary>
internal enum PropertyContext
{
    Connect,
    Will,
    ConnAck,
    Publish,
    Ack,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

/// <summary>
/// Reads and writes MQTT 5 property blocks (2.2.2). Allowed identifiers per packet are bit masks, so checking a
/// property is one AND; duplicates are caught with a second mask.
/// </summary>
internal static class PropertyCodec
{
    public const byte PayloadFormatIndicator = 0x01;
    public const byte MessageExpiryInterval = 0x02;
    public const byte ContentType = 0x03;
    public const byte ResponseTopic = 0x08;
    public const byte CorrelationData = 0x09;
    public const byte SubscriptionIdentifier = 0x0B;
    public const byte SessionExpiryInterval = 0x11;
    public const byte AssignedClientIdentifier = 0x12;
    public const byte ServerKeepAlive = 0x13;
    public const byte AuthenticationMethod = 0x15;
    public const byte AuthenticationData = 0x16;
    public const byte RequestProblemInformation = 0x17;
    public const byte WillDelayInterval = 0x18;
    public const byte RequestResponseInformation = 0x19;
    public const byte ResponseInformation = 0x1A;
    public const byte ServerReference = 0x1C;
    public const byte ReasonString = 0x1F;
    public const byte ReceiveMaximum = 0x21;
    public const byte TopicAliasMaximum = 0x22;
    public const byte TopicAlias = 0x23;
    public const byte MaximumQos = 0x24;
    public const byte RetainAvailable = 0x25;
    public const byte UserProperty = 0x26;
    public const byte MaximumPacketSize = 0x27;
    public const byte WildcardSubscriptionAvailable = 0x28;
    public const byte SubscriptionIdentifiersAvailable = 0x29;
    public const byte SharedSubscriptionAvailable = 0x2A;

    private const ulong Defined =
        1UL << PayloadFormatIndicator | 1UL << MessageExpiryInterval | 1UL << ContentType | 1UL << ResponseTopic
        | 1UL << CorrelationData | 1UL << SubscriptionIdentifier | 1UL << SessionExpiryInterval
        | 1UL << AssignedClientIdentifier | 1UL << ServerKeepAlive | 1UL << AuthenticationMethod
        | 1UL << AuthenticationData | 1UL << RequestProblemInformation | 1UL << WillDelayInterval
        | 1UL << RequestResponseInformation | 1UL << ResponseInformation | 1UL << ServerReference
        | 1UL << ReasonString | 1UL << ReceiveMaximum | 1UL << TopicAliasMaximum | 1UL << TopicAlias | 1UL << MaximumQos
        | 1UL << RetainAvailable | 1UL << UserProperty | 1UL << MaximumPacketSize | 1UL << WildcardSubscriptionAvailable
        | 1UL << SubscriptionIdentifiersAvailable | 1UL << SharedSubscriptionAvailable;

    // Table 2-4 of MQTT 5.0 (2.2.2.2), one mask per packet (and one for the will properties of CONNECT).
    private static readonly ulong[] Allowed =
    [
        /* Connect */ 1UL << SessionExpiryInterval | 1UL << AuthenticationMethod | 1UL << AuthenticationData
            | 1UL << RequestProblemInformation | 1UL << RequestResponseInformation | 1UL << ReceiveMaximum
            | 1UL << TopicAliasMaximum | 1UL << UserProperty | 1UL << MaximumPacketSize,
        /* Will */ 1UL << PayloadFormatIndicator | 1UL << MessageExpiryInterval | 1UL << ContentType | 1UL << ResponseTopic
            | 1UL << CorrelationData | 1UL << WillDelayInterval | 1UL << UserProperty,
        /* ConnAck */ 1UL << SessionExpiryInterval | 1UL << AssignedClientIdentifier | 1UL << ServerKeepAlive
            | 1UL << AuthenticationMethod | 1UL << AuthenticationData | 1UL << ResponseInformation
            | 1UL << ServerReference | 1UL << ReasonString | 1UL << ReceiveMaximum | 1UL << TopicAliasMaximum
            | 1UL << MaximumQos | 1UL << RetainAvailable | 1UL << UserProperty | 1UL << MaximumPacketSize
            | 1UL << WildcardSubscriptionAvailable | 1UL << SubscriptionIdentifiersAvailable
            | 1UL << SharedSubscriptionAvailable,
        /* Publish */ 1UL << PayloadFormatIndicator | 1UL << MessageExpiryInterval | 1UL << ContentType
            | 1UL << ResponseTopic | 1UL << CorrelationData | 1UL << SubscriptionIdentifier | 1UL << TopicAlias
            | 1UL << UserProperty,
        /* Ack */ 1UL << ReasonString | 1UL << UserProperty,
        /* Subscribe */ 1UL << SubscriptionIdentifier | 1UL << UserProperty,
        /* SubAck */ 1UL << ReasonString | 1UL << UserProperty,
        /* Unsubscribe */ 1UL << UserProperty,
        /* UnsubAck */ 1UL << ReasonString | 1UL << UserProperty,
        /* Disconnect */ 1UL << SessionExpiryInterval | 1UL << ServerReference | 1UL << ReasonString | 1UL << UserProperty,
        /* Auth */ 1UL << AuthenticationMethod | 1UL << AuthenticationData | 1UL << ReasonString | 1UL << UserProperty,
    ];

    public static bool IsAllowed(PropertyContext context, byte id) => (Allowed[(int)context] & (1UL << id)) != 0;

    /// <summary>Reads Property Length and the properties of a packet other than PUBLISH; null when there are none.</summary>
    public static MqttProperties? Read(ref WireReader reader, PropertyContext context) => Read(ref reader, context, null);

    /// <summary>
    /// Reads Property Length and the properties of a PUBLISH: Topic Alias, Message Expiry Interval and Subscription
    /// Identifiers go to the packet's own members, the ones that travel with the message to its
    /// <see cref="MqttPublishPacket.Properties"/> (null when none was present).
    /// </summary>
    public static void ReadPublish(ref WireReader reader, MqttPublishPacket publish) => Read(ref reader, PropertyContext.Publish, publish);

    private static MqttProperties? Read(ref WireReader reader, PropertyContext context, MqttPublishPacket? publish)
    {
        var length = reader.ReadVariableByteInteger();
        if (length > (uint)reader.Remaining)
            CodecErrors.Malformed("property length runs past the end of the packet");
        if (length == 0)
            return null;
        var r = new WireReader(reader.ReadSpan((int)length));
        var allowed = Allowed[(int)context];
        ulong seen = 0;
        MqttProperties? p = null;
        List<uint>? subscriptionIds = null;
        // A PUBLISH's message properties, made into one immutable MessageProperties at the end.
        byte? payloadFormat = null;
        string? contentType = null, responseTopic = null;
        byte[]? correlationData = null;
        ImmutableArray<MqttUserProperty>.Builder? users = null;
        while (!r.End)
        {
            var id = r.ReadVariableByteInteger();
            if (id >= 64 || (Defined & (1UL << (int)id)) == 0)
                CodecErrors.Malformed($"unknown property identifier 0x{id:X2}");
            var bit = 1UL << (int)id;
            // 2.2.2.2: "an Identifier which is not valid for its packet type ... is a Malformed Packet".
            if ((allowed & bit) == 0)
                CodecErrors.Malformed($"property 0x{id:X2} is not valid in {context} (2.2.2.2)");
            if ((seen & bit) != 0 && id != UserProperty && !(id == SubscriptionIdentifier && context == PropertyContext.Publish))
                CodecErrors.ProtocolError($"property 0x{id:X2} included more than once");
            seen |= bit;
            switch (id)
            {
                case PayloadFormatIndicator:
                    payloadFormat = ReadFlag(ref r, "Payload Format Indicator");
                    break;
                case MessageExpiryInterval:
                    if (publish is not null)
                        publish.MessageExpiryInterval = r.ReadUInt32();
                    else
                        (p ??= new()).MessageExpiryInterval = r.ReadUInt32();
                    break;
                case ContentType:
                    contentType = r.ReadString();
                    break;
                case ResponseTopic:
                    responseTopic = r.ReadString();
                    // [MQTT-3.3.2-14]: the Response Topic is a Topic Name, so no wildcards.
                    if (!MqttTopic.IsValidTopicName(responseTopic))
                        CodecErrors.ProtocolError("Response Topic is not a valid topic name [MQTT-3.3.2-14]");
                    break;
                case CorrelationData:
                    correlationData = r.ReadBinary();
                    break;
                case SubscriptionIdentifier:
                    var subscriptionId = r.ReadVariableByteInteger();
                    if (subscriptionId == 0)
                        CodecErrors.ProtocolError("Subscription Identifier 0 (3.8.2.1.2)");
                    if (publish is not null)
                        (subscriptionIds ??= new List<uint>(1)).Add(subscriptionId);
                    else
                        (p ??= new()).SubscriptionIdentifier = subscriptionId;
                    break;
                case SessionExpiryInterval:
                    (p ??= new()).SessionExpiryInterval = r.ReadUInt32();
                    break;
                case AssignedClientIdentifier:
                    (p ??= new()).AssignedClientIdentifier = r.ReadString();
                    break;
                case ServerKeepAlive:
                    (p ??= new()).ServerKeepAlive = r.ReadUInt16();
                    break;
                case AuthenticationMethod:
                    (p ??= new()).AuthenticationMethod = r.ReadString();
                    break;
                case AuthenticationData:
                    (p ??= new()).AuthenticationData = r.ReadBinary();
                    break;
                case RequestProblemInformation:
                    (p ??= new()).RequestProblemInformation = ReadFlag(ref r, "Request Problem Information");
                    break;
                case WillDelayInterval:
                    (p ??= new()).WillDelayInterval = r.ReadUInt32();
                    break;
                case RequestResponseInformation:
                    (p ??= new()).RequestResponseInformation = ReadFlag(ref r, "Request Response Information");
                    break;
                case ResponseInformation:
                    (p ??= new()).ResponseInformation = r.ReadString();
                    break;
                case ServerReference:
                    (p ??= new()).ServerReference = r.ReadString();
                    break;
                case ReasonString:
                    (p ??= new()).ReasonString = r.ReadString();
                    break;
                case ReceiveMaximum:
                    var receiveMaximum = r.ReadUInt16();
                    if (receiveMaximum == 0)
                        CodecErrors.ProtocolError("Receive Maximum 0 (3.1.2.11.3)");
                    (p ??= new()).ReceiveMaximum = receiveMaximum;
                    break;
                case TopicAliasMaximum:
                    (p ??= new()).TopicAliasMaximum = r.ReadUInt16();
                    break;
                case TopicAlias:
                    var alias = r.ReadUInt16();
                    if (alias == 0)
                        CodecErrors.Throw(MqttReasonCode.TopicAliasInvalid, "Topic Alias 0 [MQTT-3.3.2-8]");
                    publish!.TopicAlias = alias;
                    break;
                case MaximumQos:
                    (p ??= new()).MaximumQos = ReadFlag(ref r, "Maximum QoS");
                    break;
                case RetainAvailable:
                    (p ??= new()).RetainAvailable = ReadFlag(ref r, "Retain Available");
                    break;
                case UserProperty:
                    var name = r.ReadString();
                    var value = r.ReadString();
                    (users ??= ImmutableArray.CreateBuilder<MqttUserProperty>()).Add(new MqttUserProperty(name, value));
                    break;
                case MaximumPacketSize:
                    var maximumPacketSize = r.ReadUInt32();
                    if (maximumPacketSize == 0)
                        CodecErrors.ProtocolError("Maximum Packet Size 0 (3.1.2.11.4)");
                    (p ??= new()).MaximumPacketSize = maximumPacketSize;
                    break;
                case WildcardSubscriptionAvailable:
                    (p ??= new()).WildcardSubscriptionAvailable = ReadFlag(ref r, "Wildcard Subscription Available");
                    break;
                case SubscriptionIdentifiersAvailable:
                    (p ??= new()).SubscriptionIdentifiersAvailable = ReadFlag(ref r, "Subscription Identifiers Available");
                    break;
                case SharedSubscriptionAvailable:
                    (p ??= new()).SharedSubscriptionAvailable = ReadFlag(ref r, "Shared Subscription Available");
                    break;
            }
        }
        if (publish is not null)
        {
            if (subscriptionIds is not null)
                publish.SubscriptionIdentifiers = subscriptionIds;
            if (payloadFormat is not null || contentType is not null || responseTopic is not null || correlationData is not null || users is not null)
            {
                publish.Properties = new MessageProperties
                {
                    PayloadFormatIndicator = payloadFormat,
                    ContentType = contentType,
                    ResponseTopic = responseTopic,
                    CorrelationData = correlationData,
                    UserProperties = users?.DrainToImmutable() ?? [],
                };
            }
            return null;
        }
        if (payloadFormat is not null || contentType is not null || responseTopic is not null || correlationData is not null || users is not null)
        {
            p ??= new();
            p.PayloadFormatIndicator = payloadFormat;
            p.ContentType = contentType;
            p.ResponseTopic = responseTopic;
            p.CorrelationData = correlationData;
            p.UserProperties = users is null ? null : [.. users];
        }
        // 3.1.2.11.10 / 3.2.2.3.18 / 3.15.2.2.3: Authentication Data only makes sense with a method.
        if (p is not null && p.AuthenticationData is not null && p.AuthenticationMethod is null)
            CodecErrors.ProtocolError("Authentication Data without Authentication Method");
        return p;
    }

    private static byte ReadFlag(ref WireReader r, string name)
    {
        var value = r.ReadByte();
        if (value > 1)
            CodecErrors.ProtocolError($"{name} must be 0 or 1, was {value}");
        return value;
    }

    /// <summary>
    /// Bytes of the properties of a packet other than PUBLISH (without Property Length). Properties not allowed in the
    /// context are skipped.
    /// </summary>
    public static int Size(MqttProperties? p, PropertyContext context)
    {
        if (p is null)
            return 0;
        var allowed = Allowed[(int)context];
        var size = 0;
        if (p.PayloadFormatIndicator is not null && Has(allowed, PayloadFormatIndicator))
            size += 2;
        if (p.MessageExpiryInterval is not null && Has(allowed, MessageExpiryInterval))
            size += 5;
        if (p.ContentType is not null && Has(allowed, ContentType))
            size += 1 + WireWriter.StringSize(p.ContentType);
        if (p.ResponseTopic is not null && Has(allowed, ResponseTopic))
            size += 1 + WireWriter.StringSize(p.ResponseTopic);
        if (p.CorrelationData is not null && Has(allowed, CorrelationData))
            size += 1 + WireWriter.BinarySize(p.CorrelationData.Length);
        if (p.SubscriptionIdentifier is { } subscriptionId && Has(allowed, SubscriptionIdentifier))
            size += 1 + WireWriter.VariableByteIntegerSize(subscriptionId);
        if (p.SessionExpiryInterval is not null && Has(allowed, SessionExpiryInterval))
            size += 5;
        if (p.AssignedClientIdentifier is not null && Has(allowed, AssignedClientIdentifier))
            size += 1 + WireWriter.StringSize(p.AssignedClientIdentifier);
        if (p.ServerKeepAlive is not null && Has(allowed, ServerKeepAlive))
            size += 3;
        if (p.AuthenticationMethod is not null && Has(allowed, AuthenticationMethod))
            size += 1 + WireWriter.StringSize(p.AuthenticationMethod);
        if (p.AuthenticationData is not null && Has(allowed, AuthenticationData))
            size += 1 + WireWriter.BinarySize(p.AuthenticationData.Length);
        if (p.RequestProblemInformation is not null && Has(allowed, RequestProblemInformation))
            size += 2;
        if (p.WillDelayInterval is not null && Has(allowed, WillDelayInterval))
            size += 5;
        if (p.RequestResponseInformation is not null && Has(allowed, RequestResponseInformation))
            size += 2;
        if (p.ResponseInformation is not null && Has(allowed, ResponseInformation))
            size += 1 + WireWriter.StringSize(p.ResponseInformation);
        if (p.ServerReference is not null && Has(allowed, ServerReference))
            size += 1 + WireWriter.StringSize(p.ServerReference);
        if (p.ReasonString is not null && Has(allowed, ReasonString))
            size += 1 + WireWriter.StringSize(p.ReasonString);
        if (p.ReceiveMaximum is not null && Has(allowed, ReceiveMaximum))
            size += 3;
        if (p.TopicAliasMaximum is not null && Has(allowed, TopicAliasMaximum))
            size += 3;
        if (p.MaximumQos is not null && Has(allowed, MaximumQos))
            size += 2;
        if (p.RetainAvailable is not null && Has(allowed, RetainAvailable))
            size += 2;
        if (p.UserProperties is { } userProperties && Has(allowed, UserProperty))
        {
            foreach (var up in userProperties)
                size += 1 + WireWriter.StringSize(up.Name) + WireWriter.StringSize(up.Value);
        }
        if (p.MaximumPacketSize is not null && Has(allowed, MaximumPacketSize))
            size += 5;
        if (p.WildcardSubscriptionAvailable is not null && Has(allowed, WildcardSubscriptionAvailable))
            size += 2;
        if (p.SubscriptionIdentifiersAvailable is not null && Has(allowed, SubscriptionIdentifiersAvailable))
            size += 2;
        if (p.SharedSubscriptionAvailable is not null && Has(allowed, SharedSubscriptionAvailable))
            size += 2;
        return size;
    }

    /// <summary>Writes the properties (without Property Length) in identifier order; mirrors <see cref="Size(MqttProperties?, PropertyContext)"/>.</summary>
    public static void Write(ref WireWriter w, MqttProperties? p, PropertyContext context)
    {
        if (p is null)
            return;
        var allowed = Allowed[(int)context];
        if (p.PayloadFormatIndicator is { } pfi && Has(allowed, PayloadFormatIndicator))
            WriteByteProperty(ref w, PayloadFormatIndicator, pfi);
        if (p.MessageExpiryInterval is { } mei && Has(allowed, MessageExpiryInterval))
            WriteUInt32Property(ref w, MessageExpiryInterval, mei);
        if (p.ContentType is { } contentType && Has(allowed, ContentType))
            WriteStringProperty(ref w, ContentType, contentType);
        if (p.ResponseTopic is { } responseTopic && Has(allowed, ResponseTopic))
            WriteStringProperty(ref w, ResponseTopic, responseTopic);
        if (p.CorrelationData is { } correlationData && Has(allowed, CorrelationData))
        {
            w.WriteByte(CorrelationData);
            w.WriteBinary(correlationData);
        }
        if (p.SubscriptionIdentifier is { } subscriptionId && Has(allowed, SubscriptionIdentifier))
        {
            w.WriteByte(SubscriptionIdentifier);
            w.WriteVariableByteInteger(subscriptionId);
        }
        if (p.SessionExpiryInterval is { } sei && Has(allowed, SessionExpiryInterval))
            WriteUInt32Property(ref w, SessionExpiryInterval, sei);
        if (p.AssignedClientIdentifier is { } assigned && Has(allowed, AssignedClientIdentifier))
            WriteStringProperty(ref w, AssignedClientIdentifier, assigned);
        if (p.ServerKeepAlive is { } serverKeepAlive && Has(allowed, ServerKeepAlive))
            WriteUInt16Property(ref w, ServerKeepAlive, serverKeepAlive);
        if (p.AuthenticationMethod is { } authMethod && Has(allowed, AuthenticationMethod))
            WriteStringProperty(ref w, AuthenticationMethod, authMethod);
        if (p.AuthenticationData is { } authData && Has(allowed, AuthenticationData))
        {
            w.WriteByte(AuthenticationData);
            w.WriteBinary(authData);
        }
        if (p.RequestProblemInformation is { } rpi && Has(allowed, RequestProblemInformation))
            WriteByteProperty(ref w, RequestProblemInformation, rpi);
        if (p.WillDelayInterval is { } willDelay && Has(allowed, WillDelayInterval))
            WriteUInt32Property(ref w, WillDelayInterval, willDelay);
        if (p.RequestResponseInformation is { } rri && Has(allowed, RequestResponseInformation))
            WriteByteProperty(ref w, RequestResponseInformation, rri);
        if (p.ResponseInformation is { } responseInformation && Has(allowed, ResponseInformation))
            WriteStringProperty(ref w, ResponseInformation, responseInformation);
        if (p.ServerReference is { } serverReference && Has(allowed, ServerReference))
            WriteStringProperty(ref w, ServerReference, serverReference);
        if (p.ReasonString is { } reasonString && Has(allowed, ReasonString))
            WriteStringProperty(ref w, ReasonString, reasonString);
        if (p.ReceiveMaximum is { } receiveMaximum && Has(allowed, ReceiveMaximum))
            WriteUInt16Property(ref w, ReceiveMaximum, receiveMaximum);
        if (p.TopicAliasMaximum is { } topicAliasMaximum && Has(allowed, TopicAliasMaximum))
            WriteUInt16Property(ref w, TopicAliasMaximum, topicAliasMaximum);
        if (p.MaximumQos is { } maximumQos && Has(allowed, MaximumQos))
            WriteByteProperty(ref w, MaximumQos, maximumQos);
        if (p.RetainAvailable is { } retainAvailable && Has(allowed, RetainAvailable))
            WriteByteProperty(ref w, RetainAvailable, retainAvailable);
        if (p.UserProperties is { } userProperties && Has(allowed, UserProperty))
        {
            foreach (var up in userProperties)
            {
                w.WriteByte(UserProperty);
                w.WriteString(up.Name);
                w.WriteString(up.Value);
            }
        }
        if (p.MaximumPacketSize is { } maximumPacketSize && Has(allowed, MaximumPacketSize))
            WriteUInt32Property(ref w, MaximumPacketSize, maximumPacketSize);
        if (p.WildcardSubscriptionAvailable is { } wsa && Has(allowed, WildcardSubscriptionAvailable))
            WriteByteProperty(ref w, WildcardSubscriptionAvailable, wsa);
        if (p.SubscriptionIdentifiersAvailable is { } sia && Has(allowed, SubscriptionIdentifiersAvailable))
            WriteByteProperty(ref w, SubscriptionIdentifiersAvailable, sia);
        if (p.SharedSubscriptionAvailable is { } ssa && Has(allowed, SharedSubscriptionAvailable))
            WriteByteProperty(ref w, SharedSubscriptionAvailable, ssa);
    }

    /// <summary>Bytes of a PUBLISH's message properties (without Property Length).</summary>
    public static int Size(MessageProperties? p)
    {
        if (p is null)
            return 0;
        var size = 0;
        if (p.PayloadFormatIndicator is not null)
            size += 2;
        if (p.ContentType is not null)
            size += 1 + WireWriter.StringSize(p.ContentType);
        if (p.ResponseTopic is not null)
            size += 1 + WireWriter.StringSize(p.ResponseTopic);
        if (p.CorrelationData is { } correlationData)
            size += 1 + WireWriter.BinarySize(correlationData.Length);
        foreach (var up in p.UserProperties)
            size += 1 + WireWriter.StringSize(up.Name) + WireWriter.StringSize(up.Value);
        return size;
    }

    /// <summary>Writes a PUBLISH's message properties (without Property Length) in identifier order; mirrors <see cref="Size(MessageProperties?)"/>.</summary>
    public static void Write(ref WireWriter w, MessageProperties? p)
    {
        if (p is null)
            return;
        if (p.PayloadFormatIndicator is { } pfi)
            WriteByteProperty(ref w, PayloadFormatIndicator, pfi);
        if (p.ContentType is { } contentType)
            WriteStringProperty(ref w, ContentType, contentType);
        if (p.ResponseTopic is { } responseTopic)
            WriteStringProperty(ref w, ResponseTopic, responseTopic);
        if (p.CorrelationData is { } correlationData)
        {
            w.WriteByte(CorrelationData);
            w.WriteBinary(correlationData.Span);
        }
        foreach (var up in p.UserProperties)
        {
            w.WriteByte(UserProperty);
            w.WriteString(up.Name);
            w.WriteString(up.Value);
        }
    }

    private static bool Has(ulong allowed, byte id) => (allowed & (1UL << id)) != 0;

    private static void WriteByteProperty(ref WireWriter w, byte id, byte value)
    {
        w.WriteByte(id);
        w.WriteByte(value);
    }

    private static void WriteUInt16Property(ref WireWriter w, byte id, ushort value)
    {
        w.WriteByte(id);
        w.WriteUInt16(value);
    }

    private static void WriteUInt32Property(ref WireWriter w, byte id, uint value)
    {
        w.WriteByte(id);
        w.WriteUInt32(value);
    }

    private static void WriteStringProperty(ref WireWriter w, byte id, string value)
    {
        w.WriteByte(id);
        w.WriteString(value);
    }
}
