using System.Text.Unicode;
using Broker.Protocol.Codec;

namespace Broker.Protocol;

/// <summary>One decoder per packet type. Where MQTT 3.x and 5.0 differ on the wire the branch is on <c>version</c>.</summary>
public static partial class MqttPacketReader
{
    private static MqttConnectPacket ReadConnect(ref WireReader r)
    {
        var name = r.ReadLengthPrefixed();
        // mosquitto bridges (try_private) set bit 7 of the level; the level itself is the low 7 bits.
        var level = r.ReadByte() & 0x7F;
        MqttProtocolVersion version;
        if (name.SequenceEqual("MQTT"u8))
        {
            version = level switch
            {
                4 => MqttProtocolVersion.V311,
                5 => MqttProtocolVersion.V500,
                _ => throw new MqttProtocolException(MqttReasonCode.UnsupportedProtocolVersion,
                    $"unsupported protocol level {level} [MQTT-3.1.2-2]")
                {
                    ResponseVersion = level > 5 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311,
                },
            };
        }
        else if (name.SequenceEqual("MQIsdp"u8))
        {
            if (level != 3)
                throw new MqttProtocolException(MqttReasonCode.UnsupportedProtocolVersion,
                    $"protocol name MQIsdp with level {level} [MQTT-3.1.2-2]")
                { ResponseVersion = MqttProtocolVersion.V310 };
            version = MqttProtocolVersion.V310;
        }
        else
        {
            CodecErrors.ProtocolError("unknown protocol name [MQTT-3.1.2-1]");
            return null;
        }

        try
        {
            return ReadConnectAfterLevel(ref r, version);
        }
        catch (MqttProtocolException e) when (e.ResponseVersion == MqttProtocolVersion.Unknown)
        {
            // The level is known by now: let the session answer in the client's version (e.g. CONNACK 0x81 in 5.0).
            throw new MqttProtocolException(e.ReasonCode, e.Message) { ResponseVersion = version };
        }
    }

    private static MqttConnectPacket ReadConnectAfterLevel(ref WireReader r, MqttProtocolVersion version)
    {
        var flags = r.ReadByte();
        if ((flags & 0x01) != 0)
            CodecErrors.Malformed("CONNECT reserved flag is set [MQTT-3.1.2-3]");
        var willFlag = (flags & 0x04) != 0;
        var willQos = (flags >> 3) & 0x03;
        var willRetain = (flags & 0x20) != 0;
        var passwordFlag = (flags & 0x40) != 0;
        var usernameFlag = (flags & 0x80) != 0;
        if (!willFlag && (willQos != 0 || willRetain))
            CodecErrors.Malformed("Will QoS or Will Retain set without the Will Flag [MQTT-3.1.2-13] [MQTT-3.1.2-15]");
        if (willQos == 3)
            CodecErrors.Malformed("Will QoS 3 [MQTT-3.1.2-14]");
        if (version == MqttProtocolVersion.V311 && passwordFlag && !usernameFlag)
            CodecErrors.Malformed("Password Flag without User Name Flag [MQTT-3.1.2-22]");

        var packet = new MqttConnectPacket
        {
            ProtocolVersion = version,
            CleanSession = (flags & 0x02) != 0,
            KeepAlive = r.ReadUInt16(),
        };
        if (version == MqttProtocolVersion.V500)
            packet.Properties = PropertyCodec.Read(ref r, PropertyContext.Connect);
        packet.ClientId = r.ReadString();
        if (willFlag)
        {
            if (version == MqttProtocolVersion.V500)
                packet.WillProperties = PropertyCodec.Read(ref r, PropertyContext.Will);
            var willTopic = r.ReadString();
            if (!MqttTopic.IsValidTopicName(willTopic))
                CodecErrors.Malformed("Will Topic is empty or contains a wildcard [MQTT-3.1.3-11] [MQTT-4.7.3-1]");
            packet.WillTopic = willTopic;
            packet.WillPayload = r.ReadBinary();
            packet.WillQos = (MqttQos)willQos;
            packet.WillRetain = willRetain;
            if (packet.WillProperties?.PayloadFormatIndicator == 1 && !Utf8.IsValid(packet.WillPayload))
                CodecErrors.Throw(MqttReasonCode.PayloadFormatInvalid,
                    "will payload is not UTF-8 though its Payload Format Indicator says so (3.1.3.2.3)");
        }
        if (usernameFlag)
            packet.Username = r.ReadString();
        if (passwordFlag)
            packet.Password = r.ReadBinary();
        return packet;
    }

    private static MqttConnAckPacket ReadConnAck(ref WireReader r, MqttProtocolVersion version)
    {
        var flags = r.ReadByte();
        var packet = new MqttConnAckPacket();
        if (version == MqttProtocolVersion.V310)
        {
            // 3.1 has no Session Present: the first byte is reserved.
        }
        else if ((flags & 0xFE) != 0)
        {
            CodecErrors.Malformed("CONNACK reserved flags are set [MQTT-3.2.2-1]");
        }
        else
        {
            packet.SessionPresent = flags == 1;
        }
        if (version == MqttProtocolVersion.V500)
        {
            packet.ReasonCode = ReasonCodes.Read(ref r, MqttPacketType.ConnAck);
            packet.Properties = PropertyCodec.Read(ref r, PropertyContext.ConnAck);
            return packet;
        }
        var code = r.ReadByte();
        packet.ReasonCode = code switch
        {
            0 => MqttReasonCode.Success,
            1 => MqttReasonCode.UnsupportedProtocolVersion,
            2 => MqttReasonCode.ClientIdentifierNotValid,
            3 => MqttReasonCode.ServerUnavailable,
            4 => MqttReasonCode.BadUserNameOrPassword,
            5 => MqttReasonCode.NotAuthorized,
            _ => throw new MqttProtocolException(MqttReasonCode.MalformedPacket, $"CONNACK return code {code} is reserved"),
        };
        return packet;
    }

    private static MqttPublishPacket ReadPublish(ref WireReader r, int flags, MqttProtocolVersion version,
        ref TopicMemo lastTopic, bool remember)
    {
        var qos = (flags >> 1) & 0x03;
        if (qos == 3)
            CodecErrors.Malformed("PUBLISH QoS 3 [MQTT-3.3.1-4]");
        var dup = (flags & 0x08) != 0;
        if (dup && qos == 0)
            CodecErrors.Malformed("DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]");
        var topicBytes = r.ReadLengthPrefixed();
        var topic = remember ? lastTopic.Lookup(topicBytes) : null;
        if (topic is null)
        {
            // '+' and '#' never occur inside a multi-byte UTF-8 sequence, so the raw bytes can be checked before decoding.
            if (topicBytes.IndexOfAny((byte)'+', (byte)'#') >= 0)
                CodecErrors.Malformed("PUBLISH topic contains a wildcard [MQTT-3.3.2-2]");
            topic = WireReader.DecodeString(topicBytes);
            if (remember && topic.Length > 0)
                lastTopic.Remember(topicBytes, topic);
        }
        var packet = new MqttPublishPacket
        {
            Topic = topic,
            Qos = (MqttQos)qos,
            Dup = dup,
            Retain = (flags & 0x01) != 0,
        };
        if (qos > 0)
        {
            packet.PacketId = r.ReadUInt16();
            if (packet.PacketId == 0)
                CodecErrors.ProtocolError("PUBLISH QoS > 0 with Packet Identifier 0 [MQTT-2.3.1-1] (5.0: [MQTT-2.2.1-3])");
        }
        if (version == MqttProtocolVersion.V500)
            PropertyCodec.ReadPublish(ref r, packet);
        if (packet.Topic.Length == 0)
        {
            if (version != MqttProtocolVersion.V500)
                CodecErrors.Malformed("PUBLISH topic is empty [MQTT-4.7.3-1]");
            if (packet.TopicAlias == 0)
                CodecErrors.ProtocolError("PUBLISH topic is empty and there is no Topic Alias (3.3.2.3.4)");
        }
        var payload = r.ReadRest();
        if (packet.Properties?.PayloadFormatIndicator == 1 && !Utf8.IsValid(payload))
            CodecErrors.Throw(MqttReasonCode.PayloadFormatInvalid,
                "payload is not UTF-8 though its Payload Format Indicator says so (3.3.2.3.2)");
        packet.Payload = payload.ToArray();
        return packet;
    }

    private static MqttAckPacket ReadAck(ref WireReader r, MqttPacketType type, MqttProtocolVersion version)
    {
        var packet = new MqttAckPacket(type) { PacketId = ReadPacketId(ref r, type) };
        // MQTT 5 (3.4.2.1): reason code and properties may be left off, meaning Success and none.
        if (version == MqttProtocolVersion.V500 && !r.End)
        {
            packet.ReasonCode = ReasonCodes.Read(ref r, type);
            if (!r.End)
                packet.Properties = PropertyCodec.Read(ref r, PropertyContext.Ack);
        }
        return packet;
    }

    private static MqttSubscribePacket ReadSubscribe(ref WireReader r, MqttProtocolVersion version)
    {
        var packet = new MqttSubscribePacket { PacketId = ReadPacketId(ref r, MqttPacketType.Subscribe) };
        var v5 = version == MqttProtocolVersion.V500;
        if (v5)
            packet.Properties = PropertyCodec.Read(ref r, PropertyContext.Subscribe);
        while (!r.End)
        {
            var filter = r.ReadString();
            if (!MqttTopic.IsValidTopicFilter(filter))
                CodecErrors.Malformed($"invalid topic filter '{filter}' [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1]");
            var options = r.ReadByte();
            var qos = options & 0x03;
            if (!v5)
            {
                // 3.1.1 [MQTT-3.8.3-4]: reserved bits set, or QoS not 0, 1 or 2, is malformed.
                if ((options & 0xFC) != 0 || qos == 3)
                    CodecErrors.Malformed("reserved bits of the requested QoS byte are set, or QoS 3 [MQTT-3.8.3-4]");
                packet.Subscriptions.Add(new MqttTopicSubscription(filter, (MqttQos)qos));
                continue;
            }
            if ((options & 0xC0) != 0)
                CodecErrors.Malformed("reserved bits of the Subscription Options are set [MQTT-3.8.3-5]");
            // 5.0 3.8.3.1 calls Maximum QoS 3 and Retain Handling 3 Protocol Errors, not Malformed Packets.
            if (qos == 3)
                CodecErrors.ProtocolError("Maximum QoS 3 in the Subscription Options (3.8.3.1)");
            var noLocal = (options & 0x04) != 0;
            var retainHandling = (options >> 4) & 0x03;
            if (retainHandling == 3)
                CodecErrors.ProtocolError("Retain Handling 3 (3.8.3.1)");
            if (noLocal && filter.StartsWith(MqttTopic.SharePrefix, StringComparison.Ordinal))
                CodecErrors.ProtocolError("No Local on a shared subscription [MQTT-3.8.3-4]");
            packet.Subscriptions.Add(new MqttTopicSubscription(filter, (MqttQos)qos, noLocal,
                (options & 0x08) != 0, (MqttRetainHandling)retainHandling));
        }
        if (packet.Subscriptions.Count == 0)
            CodecErrors.ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-3] (5.0: [MQTT-3.8.3-2])");
        return packet;
    }

    private static MqttSubAckPacket ReadSubAck(ref WireReader r, MqttProtocolVersion version)
    {
        var packet = new MqttSubAckPacket { PacketId = ReadPacketId(ref r, MqttPacketType.SubAck) };
        var v5 = version == MqttProtocolVersion.V500;
        if (v5)
            packet.Properties = PropertyCodec.Read(ref r, PropertyContext.SubAck);
        while (!r.End)
        {
            if (v5)
            {
                packet.ReasonCodes.Add(ReasonCodes.Read(ref r, MqttPacketType.SubAck));
                continue;
            }
            var code = r.ReadByte();
            if (code > 2 && code != 0x80)
                CodecErrors.Malformed($"SUBACK return code 0x{code:X2} is reserved [MQTT-3.9.3-2]");
            packet.ReasonCodes.Add((MqttReasonCode)code);
        }
        return packet;
    }

    private static MqttUnsubscribePacket ReadUnsubscribe(ref WireReader r, MqttProtocolVersion version)
    {
        var packet = new MqttUnsubscribePacket { PacketId = ReadPacketId(ref r, MqttPacketType.Unsubscribe) };
        if (version == MqttProtocolVersion.V500)
            packet.Properties = PropertyCodec.Read(ref r, PropertyContext.Unsubscribe);
        while (!r.End)
        {
            var filter = r.ReadString();
            if (!MqttTopic.IsValidTopicFilter(filter))
                CodecErrors.Malformed($"invalid topic filter '{filter}' [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1]");
            packet.TopicFilters.Add(filter);
        }
        if (packet.TopicFilters.Count == 0)
            CodecErrors.ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]");
        return packet;
    }

    private static MqttUnsubAckPacket ReadUnsubAck(ref WireReader r, MqttProtocolVersion version)
    {
        var packet = new MqttUnsubAckPacket { PacketId = ReadPacketId(ref r, MqttPacketType.UnsubAck) };
        if (version != MqttProtocolVersion.V500)
            return packet;
        packet.Properties = PropertyCodec.Read(ref r, PropertyContext.UnsubAck);
        while (!r.End)
            packet.ReasonCodes.Add(ReasonCodes.Read(ref r, MqttPacketType.UnsubAck));
        return packet;
    }

    private static MqttDisconnectPacket ReadDisconnect(ref WireReader r, MqttProtocolVersion version)
    {
        var packet = new MqttDisconnectPacket();
        // MQTT 5 (3.14.2.1): Remaining Length 0 means Normal Disconnection and no properties.
        if (version == MqttProtocolVersion.V500 && !r.End)
        {
            packet.ReasonCode = ReasonCodes.Read(ref r, MqttPacketType.Disconnect);
            if (!r.End)
                packet.Properties = PropertyCodec.Read(ref r, PropertyContext.Disconnect);
        }
        return packet;
    }

    private static MqttAuthPacket ReadAuth(ref WireReader r)
    {
        var packet = new MqttAuthPacket();
        // 3.15.2.1: Remaining Length 0 means Success and no properties.
        if (!r.End)
        {
            packet.ReasonCode = ReasonCodes.Read(ref r, MqttPacketType.Auth);
            if (!r.End)
                packet.Properties = PropertyCodec.Read(ref r, PropertyContext.Auth);
        }
        return packet;
    }

    private static ushort ReadPacketId(ref WireReader r, MqttPacketType type)
    {
        var id = r.ReadUInt16();
        if (id == 0)
            CodecErrors.ProtocolError($"{type} with Packet Identifier 0 [MQTT-2.3.1-1] (5.0: [MQTT-2.2.1-3])");
        return id;
    }
}
