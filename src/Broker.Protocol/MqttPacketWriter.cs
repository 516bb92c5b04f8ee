using System.Buffers;
using Broker.Protocol.Codec;

namespace Broker.Protocol;

/// <summary>
/// Encodes MQTT 3.1, 3.1.1 and 5.0 control packets. Sizes are computed first, then the packet is written straight
/// into <see cref="IBufferWriter{T}.GetSpan"/>; a large PUBLISH payload is copied after its header so the writer
/// never needs one huge contiguous span.
/// </summary>
/// <remarks>
/// Version differences: 3.x packets carry no properties; a 3.x CONNACK maps the reason code onto the six 3.1.1 return
/// codes; a 3.x SUBACK writes any failure (0x80 and above) as 0x80; a 3.x UNSUBACK has no payload. MQTT 5 acks and
/// DISCONNECT / AUTH use their short forms when they carry Success and no properties. Properties that a packet type
/// may not carry are left out rather than put on the wire. For CONNECT the version written is
/// <see cref="MqttConnectPacket.ProtocolVersion"/>.
/// </remarks>
public static class MqttPacketWriter
{
    private const int PayloadCopyThreshold = 8192;

    /// <summary>Writes <paramref name="packet"/> as <paramref name="version"/> speaks it.</summary>
    /// <exception cref="ArgumentException">The packet cannot be expressed (a string over 65535 bytes, a packet over
    /// 256 MB, AUTH before MQTT 5, an unknown version).</exception>
    public static void Write(IBufferWriter<byte> output, MqttPacket packet, MqttProtocolVersion version)
    {
        ArgumentNullException.ThrowIfNull(output);
        version = EffectiveVersion(packet, version);
        var sizes = Measure(packet, version);
        var total = 1 + WireWriter.VariableByteIntegerSize((uint)sizes.Remaining) + sizes.Remaining;
        var payload = packet is MqttPublishPacket publish && publish.Payload.Length > PayloadCopyThreshold
            ? publish.Payload.Span
            : default;
        var headLength = total - payload.Length;
        var span = output.GetSpan(headLength);
        var w = new WireWriter(span);
        w.WriteByte(FirstByte(packet));
        w.WriteVariableByteInteger((uint)sizes.Remaining);
        WriteBody(ref w, packet, version, sizes, includePayload: payload.IsEmpty);
        if (w.Position != headLength)
            throw new InvalidOperationException($"codec size mismatch for {packet.Type}: {w.Position} != {headLength}");
        output.Advance(headLength);
        while (!payload.IsEmpty)
        {
            // Asks for all of it at once: BuffersExtensions.Write asks for a byte more at a time, and a writer that
            // keeps one contiguous buffer (the broker's socket pipe) then doubles it over and over, copying what it
            // holds at each step, about another copy of every large payload (bench/README.md, "256 KB messages").
            var destination = output.GetSpan(payload.Length);
            var chunk = Math.Min(destination.Length, payload.Length);
            payload[..chunk].CopyTo(destination);
            output.Advance(chunk);
            payload = payload[chunk..];
        }
    }

    /// <summary>Total bytes <see cref="Write"/> puts on the wire, fixed header included.</summary>
    public static int GetSize(MqttPacket packet, MqttProtocolVersion version)
    {
        version = EffectiveVersion(packet, version);
        var remaining = Measure(packet, version).Remaining;
        return 1 + WireWriter.VariableByteIntegerSize((uint)remaining) + remaining;
    }

    private static MqttProtocolVersion EffectiveVersion(MqttPacket packet, MqttProtocolVersion version)
    {
        ArgumentNullException.ThrowIfNull(packet);
        if (packet is MqttConnectPacket connect)
            version = connect.ProtocolVersion;
        if (version is not (MqttProtocolVersion.V310 or MqttProtocolVersion.V311 or MqttProtocolVersion.V500))
            throw new ArgumentException($"cannot write {packet.Type} for protocol version {version}", nameof(version));
        if (packet.Type == MqttPacketType.Auth && version != MqttProtocolVersion.V500)
            throw new ArgumentException("AUTH exists only in MQTT 5", nameof(packet));
        return version;
    }

    private readonly record struct Sizes(int Remaining, int Properties, int WillProperties);

    private static int PropertyBlock(int propertiesLength) =>
        WireWriter.VariableByteIntegerSize((uint)propertiesLength) + propertiesLength;

    private static Sizes Measure(MqttPacket packet, MqttProtocolVersion version)
    {
        var v5 = version == MqttProtocolVersion.V500;
        int remaining;
        var properties = 0;
        var willProperties = 0;
        switch (packet)
        {
            case MqttConnectPacket connect:
                remaining = (version == MqttProtocolVersion.V310 ? 8 : 6) + 1 + 1 + 2
                    + WireWriter.StringSize(connect.ClientId);
                if (v5)
                {
                    properties = PropertyCodec.Size(connect.Properties, PropertyContext.Connect);
                    remaining += PropertyBlock(properties);
                }
                if (connect.WillTopic is not null)
                {
                    if (v5)
                    {
                        willProperties = PropertyCodec.Size(connect.WillProperties, PropertyContext.Will);
                        remaining += PropertyBlock(willProperties);
                    }
                    remaining += WireWriter.StringSize(connect.WillTopic) + WireWriter.BinarySize(connect.WillPayload.Length);
                }
                if (connect.Username is not null)
                    remaining += WireWriter.StringSize(connect.Username);
                if (connect.Password is not null)
                    remaining += WireWriter.BinarySize(connect.Password.Length);
                break;
            case MqttConnAckPacket connAck:
                remaining = 2;
                if (v5)
                {
                    properties = PropertyCodec.Size(connAck.Properties, PropertyContext.ConnAck);
                    remaining += PropertyBlock(properties);
                }
                break;
            case MqttPublishPacket publish:
                remaining = WireWriter.StringSize(publish.Topic) + (publish.Qos > 0 ? 2 : 0) + publish.Payload.Length;
                if (v5)
                {
                    properties = PublishPropertiesSize(publish);
                    remaining += PropertyBlock(properties);
                }
                break;
            case MqttAckPacket ack:
                remaining = 2;
                if (v5)
                {
                    properties = PropertyCodec.Size(ack.Properties, PropertyContext.Ack);
                    if (properties > 0)
                        remaining += 1 + PropertyBlock(properties);
                    else if (ack.ReasonCode != MqttReasonCode.Success)
                        remaining += 1;
                }
                break;
            case MqttSubscribePacket subscribe:
                remaining = 2;
                if (v5)
                {
                    properties = PropertyCodec.Size(subscribe.Properties, PropertyContext.Subscribe);
                    remaining += PropertyBlock(properties);
                }
                foreach (var subscription in subscribe.Subscriptions)
                    remaining += WireWriter.StringSize(subscription.TopicFilter) + 1;
                break;
            case MqttSubAckPacket subAck:
                remaining = 2 + subAck.ReasonCodes.Count;
                if (v5)
                {
                    properties = PropertyCodec.Size(subAck.Properties, PropertyContext.SubAck);
                    remaining += PropertyBlock(properties);
                }
                break;
            case MqttUnsubscribePacket unsubscribe:
                remaining = 2;
                if (v5)
                {
                    properties = PropertyCodec.Size(unsubscribe.Properties, PropertyContext.Unsubscribe);
                    remaining += PropertyBlock(properties);
                }
                foreach (var filter in unsubscribe.TopicFilters)
                    remaining += WireWriter.StringSize(filter);
                break;
            case MqttUnsubAckPacket unsubAck:
                remaining = 2;
                if (v5)
                {
                    properties = PropertyCodec.Size(unsubAck.Properties, PropertyContext.UnsubAck);
                    remaining += PropertyBlock(properties) + unsubAck.ReasonCodes.Count;
                }
                break;
            case MqttPingReqPacket or MqttPingRespPacket:
                remaining = 0;
                break;
            case MqttDisconnectPacket disconnect:
                remaining = 0;
                if (v5)
                {
                    properties = PropertyCodec.Size(disconnect.Properties, PropertyContext.Disconnect);
                    if (properties > 0)
                        remaining = 1 + PropertyBlock(properties);
                    else if (disconnect.ReasonCode != MqttReasonCode.NormalDisconnection)
                        remaining = 1;
                }
                break;
            case MqttAuthPacket auth:
                properties = PropertyCodec.Size(auth.Properties, PropertyContext.Auth);
                remaining = properties > 0 ? 1 + PropertyBlock(properties)
                    : auth.ReasonCode != MqttReasonCode.Success ? 1 : 0;
                break;
            default:
                throw new ArgumentException($"unknown packet class {packet.GetType().Name}", nameof(packet));
        }
        if (remaining > MqttPacketReader.MaxRemainingLength)
            throw new ArgumentException($"{packet.Type} of {remaining} bytes exceeds the MQTT maximum", nameof(packet));
        return new Sizes(remaining, properties, willProperties);
    }

    private static int PublishPropertiesSize(MqttPublishPacket publish)
    {
        var size = PropertyCodec.Size(publish.Properties);
        if (publish.TopicAlias != 0)
            size += 3;
        if (publish.MessageExpiryInterval is not null)
            size += 5;
        if (publish.SubscriptionIdentifiers is { } ids)
        {
            for (var i = 0; i < ids.Count; i++)
                size += 1 + WireWriter.VariableByteIntegerSize(ids[i]);
        }
        return size;
    }

    private static byte FirstByte(MqttPacket packet)
    {
        var type = (byte)((byte)packet.Type << 4);
        return packet switch
        {
            MqttPublishPacket p => (byte)(type | (p.Dup ? 0x08 : 0) | ((byte)p.Qos << 1) | (p.Retain ? 0x01 : 0)),
            MqttAckPacket { Type: MqttPacketType.PubRel } or MqttSubscribePacket or MqttUnsubscribePacket =>
                (byte)(type | 0x02),
            _ => type,
        };
    }

    private static void WriteBody(ref WireWriter w, MqttPacket packet, MqttProtocolVersion version, Sizes sizes,
        bool includePayload)
    {
        var v5 = version == MqttProtocolVersion.V500;
        switch (packet)
        {
            case MqttConnectPacket connect:
                WriteConnect(ref w, connect, version, sizes);
                break;
            case MqttConnAckPacket connAck:
                w.WriteByte(version != MqttProtocolVersion.V310 && connAck.SessionPresent ? (byte)1 : (byte)0);
                w.WriteByte(v5 ? (byte)connAck.ReasonCode : ToConnAckReturnCode(connAck.ReasonCode));
                if (v5)
                    WriteProperties(ref w, connAck.Properties, PropertyContext.ConnAck, sizes.Properties);
                break;
            case MqttPublishPacket publish:
                w.WriteString(publish.Topic);
                if (publish.Qos > 0)
                    w.WriteUInt16(publish.PacketId);
                if (v5)
                    WritePublishProperties(ref w, publish, sizes.Properties);
                if (includePayload)
                    w.WriteBytes(publish.Payload.Span);
                break;
            case MqttAckPacket ack:
                w.WriteUInt16(ack.PacketId);
                if (v5 && (sizes.Properties > 0 || ack.ReasonCode != MqttReasonCode.Success))
                {
                    w.WriteByte((byte)ack.ReasonCode);
                    if (sizes.Properties > 0)
                        WriteProperties(ref w, ack.Properties, PropertyContext.Ack, sizes.Properties);
                }
                break;
            case MqttSubscribePacket subscribe:
                w.WriteUInt16(subscribe.PacketId);
                if (v5)
                    WriteProperties(ref w, subscribe.Properties, PropertyContext.Subscribe, sizes.Properties);
                foreach (var s in subscribe.Subscriptions)
                {
                    w.WriteString(s.TopicFilter);
                    var options = (byte)s.Qos;
                    if (v5)
                    {
                        options |= (byte)((s.NoLocal ? 0x04 : 0) | (s.RetainAsPublished ? 0x08 : 0)
                            | ((byte)s.RetainHandling << 4));
                    }
                    w.WriteByte(options);
                }
                break;
            case MqttSubAckPacket subAck:
                w.WriteUInt16(subAck.PacketId);
                if (v5)
                    WriteProperties(ref w, subAck.Properties, PropertyContext.SubAck, sizes.Properties);
                foreach (var code in subAck.ReasonCodes)
                    w.WriteByte(v5 || (byte)code < 0x80 ? (byte)code : (byte)0x80);
                break;
            case MqttUnsubscribePacket unsubscribe:
                w.WriteUInt16(unsubscribe.PacketId);
                if (v5)
                    WriteProperties(ref w, unsubscribe.Properties, PropertyContext.Unsubscribe, sizes.Properties);
                foreach (var filter in unsubscribe.TopicFilters)
                    w.WriteString(filter);
                break;
            case MqttUnsubAckPacket unsubAck:
                w.WriteUInt16(unsubAck.PacketId);
                if (v5)
                {
                    WriteProperties(ref w, unsubAck.Properties, PropertyContext.UnsubAck, sizes.Properties);
                    foreach (var code in unsubAck.ReasonCodes)
                        w.WriteByte((byte)code);
                }
                break;
            case MqttDisconnectPacket disconnect:
                if (v5 && (sizes.Properties > 0 || disconnect.ReasonCode != MqttReasonCode.NormalDisconnection))
                {
                    w.WriteByte((byte)disconnect.ReasonCode);
                    if (sizes.Properties > 0)
                        WriteProperties(ref w, disconnect.Properties, PropertyContext.Disconnect, sizes.Properties);
                }
                break;
            case MqttAuthPacket auth:
                if (sizes.Properties > 0 || auth.ReasonCode != MqttReasonCode.Success)
                {
                    w.WriteByte((byte)auth.ReasonCode);
                    if (sizes.Properties > 0)
                        WriteProperties(ref w, auth.Properties, PropertyContext.Auth, sizes.Properties);
                }
                break;
        }
    }

    private static void WriteConnect(ref WireWriter w, MqttConnectPacket connect, MqttProtocolVersion version, Sizes sizes)
    {
        var v5 = version == MqttProtocolVersion.V500;
        w.WriteBinary(version == MqttProtocolVersion.V310 ? "MQIsdp"u8 : "MQTT"u8);
        w.WriteByte((byte)version);
        var hasWill = connect.WillTopic is not null;
        var flags = (connect.CleanSession ? 0x02 : 0)
            | (hasWill ? 0x04 | ((byte)connect.WillQos << 3) | (connect.WillRetain ? 0x20 : 0) : 0)
            | (connect.Password is not null ? 0x40 : 0)
            | (connect.Username is not null ? 0x80 : 0);
        w.WriteByte((byte)flags);
        w.WriteUInt16(connect.KeepAlive);
        if (v5)
            WriteProperties(ref w, connect.Properties, PropertyContext.Connect, sizes.Properties);
        w.WriteString(connect.ClientId);
        if (hasWill)
        {
            if (v5)
                WriteProperties(ref w, connect.WillProperties, PropertyContext.Will, sizes.WillProperties);
            w.WriteString(connect.WillTopic!);
            w.WriteBinary(connect.WillPayload);
        }
        if (connect.Username is not null)
            w.WriteString(connect.Username);
        if (connect.Password is not null)
            w.WriteBinary(connect.Password);
    }

    private static void WriteProperties(ref WireWriter w, MqttProperties? properties, PropertyContext context, int length)
    {
        w.WriteVariableByteInteger((uint)length);
        PropertyCodec.Write(ref w, properties, context);
    }

    private static void WritePublishProperties(ref WireWriter w, MqttPublishPacket publish, int length)
    {
        w.WriteVariableByteInteger((uint)length);
        if (publish.MessageExpiryInterval is { } expiry)
        {
            w.WriteByte(PropertyCodec.MessageExpiryInterval);
            w.WriteUInt32(expiry);
        }
        if (publish.TopicAlias != 0)
        {
            w.WriteByte(PropertyCodec.TopicAlias);
            w.WriteUInt16(publish.TopicAlias);
        }
        if (publish.SubscriptionIdentifiers is { } ids)
        {
            for (var i = 0; i < ids.Count; i++)
            {
                w.WriteByte(PropertyCodec.SubscriptionIdentifier);
                w.WriteVariableByteInteger(ids[i]);
            }
        }
        PropertyCodec.Write(ref w, publish.Properties);
    }

    /// <summary>MQTT 3.1.1 CONNACK return codes (3.2.2.3); MQTT 5 refusals map onto the closest of them.</summary>
    internal static byte ToConnAckReturnCode(MqttReasonCode code) => code switch
    {
        MqttReasonCode.Success => 0,
        MqttReasonCode.UnsupportedProtocolVersion => 1,
        MqttReasonCode.ClientIdentifierNotValid => 2,
        MqttReasonCode.BadUserNameOrPassword or MqttReasonCode.BadAuthenticationMethod => 4,
        MqttReasonCode.NotAuthorized or MqttReasonCode.Banned => 5,
        _ => 3,
    };
}
