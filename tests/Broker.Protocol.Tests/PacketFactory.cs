using System.Text;

namespace Broker.Protocol.Tests;

/// <summary>
/// Random valid packets of every type for a version, and a canonical text form used to compare packets field by
/// field. The allowed-property table here is written out independently of the codec's (Table 2-4 of MQTT 5.0) so
/// the two check each other.
/// </summary>
internal static class PacketFactory
{
    public static readonly MqttProtocolVersion[] Versions =
        [MqttProtocolVersion.V310, MqttProtocolVersion.V311, MqttProtocolVersion.V500];

    private static readonly string[] Words = ["a", "sensor", "temp", "ü", "€uro", "😀", "x y", "$SYS", "-_.", "Zz9", "日本"];

    public enum Ctx { Connect, Will, ConnAck, Publish, Ack, Subscribe, SubAck, Unsubscribe, UnsubAck, Disconnect, Auth }

    public static MqttPacket Create(Random rng, MqttProtocolVersion version)
    {
        var v5 = version == MqttProtocolVersion.V500;
        var kind = rng.Next(v5 ? 15 : 14);
        return kind switch
        {
            0 => Connect(rng, version),
            1 => new MqttConnAckPacket
            {
                SessionPresent = version != MqttProtocolVersion.V310 && rng.Next(2) == 1,
                ReasonCode = v5
                    ? Pick(rng, [MqttReasonCode.Success, MqttReasonCode.UnspecifiedError, MqttReasonCode.MalformedPacket,
                        MqttReasonCode.BadUserNameOrPassword, MqttReasonCode.Banned, MqttReasonCode.UseAnotherServer])
                    : Pick(rng, [MqttReasonCode.Success, MqttReasonCode.UnsupportedProtocolVersion,
                        MqttReasonCode.ClientIdentifierNotValid, MqttReasonCode.ServerUnavailable,
                        MqttReasonCode.BadUserNameOrPassword, MqttReasonCode.NotAuthorized]),
                Properties = v5 ? Properties(rng, Ctx.ConnAck) : null,
            },
            2 or 3 or 4 => Publish(rng, version),
            5 => Ack(rng, version),
            6 => Subscribe(rng, version),
            7 => new MqttSubAckPacket
            {
                PacketId = PacketId(rng),
                ReasonCodes = ListOf(rng, 1, 5, r => v5
                    ? Pick(r, [MqttReasonCode.GrantedQos0, MqttReasonCode.GrantedQos1, MqttReasonCode.GrantedQos2,
                        MqttReasonCode.UnspecifiedError, MqttReasonCode.TopicFilterInvalid, MqttReasonCode.QuotaExceeded])
                    : Pick(r, [MqttReasonCode.GrantedQos0, MqttReasonCode.GrantedQos1, MqttReasonCode.GrantedQos2,
                        MqttReasonCode.UnspecifiedError])),
                Properties = v5 ? Properties(rng, Ctx.SubAck) : null,
            },
            8 => new MqttUnsubscribePacket
            {
                PacketId = PacketId(rng),
                TopicFilters = ListOf(rng, 1, 5, TopicFilter),
                Properties = v5 ? Properties(rng, Ctx.Unsubscribe) : null,
            },
            9 => new MqttUnsubAckPacket
            {
                PacketId = PacketId(rng),
                ReasonCodes = v5
                    ? ListOf(rng, 1, 5, r => Pick(r, [MqttReasonCode.Success, MqttReasonCode.NoSubscriptionExisted,
                        MqttReasonCode.NotAuthorized, MqttReasonCode.TopicFilterInvalid]))
                    : [],
                Properties = v5 ? Properties(rng, Ctx.UnsubAck) : null,
            },
            10 => MqttPingReqPacket.Instance,
            11 => MqttPingRespPacket.Instance,
            12 or 13 => new MqttDisconnectPacket
            {
                ReasonCode = v5 && rng.Next(2) == 1
                    ? Pick(rng, [MqttReasonCode.DisconnectWithWillMessage, MqttReasonCode.ServerShuttingDown,
                        MqttReasonCode.KeepAliveTimeout, MqttReasonCode.SessionTakenOver])
                    : MqttReasonCode.NormalDisconnection,
                Properties = v5 ? Properties(rng, Ctx.Disconnect) : null,
            },
            _ => new MqttAuthPacket
            {
                ReasonCode = Pick(rng, [MqttReasonCode.Success, MqttReasonCode.ContinueAuthentication,
                    MqttReasonCode.ReAuthenticate]),
                Properties = Properties(rng, Ctx.Auth),
            },
        };
    }

    public static MqttConnectPacket Connect(Random rng, MqttProtocolVersion version)
    {
        var v5 = version == MqttProtocolVersion.V500;
        var packet = new MqttConnectPacket
        {
            ProtocolVersion = version,
            ClientId = rng.Next(4) == 0 ? "" : Text(rng),
            CleanSession = rng.Next(2) == 1,
            KeepAlive = (ushort)rng.Next(65536),
            Properties = v5 ? Properties(rng, Ctx.Connect) : null,
        };
        if (rng.Next(2) == 1)
        {
            packet.Username = Text(rng);
            if (rng.Next(2) == 1)
                packet.Password = Bytes(rng, 20);
        }
        else if (version != MqttProtocolVersion.V311 && rng.Next(3) == 0)
        {
            packet.Password = Bytes(rng, 20); // allowed in 5.0 (3.1.2.9) and not forbidden by 3.1
        }
        if (rng.Next(2) == 1)
        {
            packet.WillTopic = TopicName(rng);
            packet.WillQos = (MqttQos)rng.Next(3);
            packet.WillRetain = rng.Next(2) == 1;
            packet.WillProperties = v5 ? Properties(rng, Ctx.Will) : null;
            packet.WillPayload = packet.WillProperties?.PayloadFormatIndicator == 1
                ? Encoding.UTF8.GetBytes(Text(rng))
                : Bytes(rng, 40);
        }
        return packet;
    }

    public static MqttPublishPacket Publish(Random rng, MqttProtocolVersion version, int maxPayload = 300)
    {
        var v5 = version == MqttProtocolVersion.V500;
        var qos = (MqttQos)rng.Next(3);
        var packet = new MqttPublishPacket
        {
            Topic = TopicName(rng),
            Qos = qos,
            Dup = qos > 0 && rng.Next(2) == 1,
            Retain = rng.Next(2) == 1,
            PacketId = qos > 0 ? PacketId(rng) : (ushort)0,
        };
        if (v5)
        {
            packet.Properties = ToMessageProperties(Properties(rng, Ctx.Publish));
            if (rng.Next(3) == 0)
            {
                packet.TopicAlias = (ushort)rng.Next(1, 65536);
                if (rng.Next(2) == 1)
                    packet.Topic = "";
            }
            if (rng.Next(3) == 0)
                packet.MessageExpiryInterval = (uint)rng.NextInt64(0, uint.MaxValue + 1L);
            if (rng.Next(3) == 0)
                packet.SubscriptionIdentifiers = ListOf(rng, 1, 4, r => (uint)r.Next(1, 268_435_456));
        }
        packet.Payload = packet.Properties?.PayloadFormatIndicator == 1
            ? Encoding.UTF8.GetBytes(Text(rng))
            : Bytes(rng, maxPayload);
        return packet;
    }

    private static MqttAckPacket Ack(Random rng, MqttProtocolVersion version)
    {
        var type = Pick(rng, [MqttPacketType.PubAck, MqttPacketType.PubRec, MqttPacketType.PubRel, MqttPacketType.PubComp]);
        var packet = new MqttAckPacket(type) { PacketId = PacketId(rng) };
        if (version == MqttProtocolVersion.V500)
        {
            // Only codes of the packet's own table (3.4.2.1 ff.): any other is refused.
            packet.ReasonCode = rng.Next(2) == 0
                ? MqttReasonCode.Success
                : type is MqttPacketType.PubAck or MqttPacketType.PubRec
                    ? Pick(rng, [MqttReasonCode.NoMatchingSubscribers, MqttReasonCode.UnspecifiedError,
                        MqttReasonCode.QuotaExceeded, MqttReasonCode.PayloadFormatInvalid])
                    : MqttReasonCode.PacketIdentifierNotFound;
            packet.Properties = Properties(rng, Ctx.Ack);
        }
        return packet;
    }

    private static MqttSubscribePacket Subscribe(Random rng, MqttProtocolVersion version)
    {
        var v5 = version == MqttProtocolVersion.V500;
        return new MqttSubscribePacket
        {
            PacketId = PacketId(rng),
            Properties = v5 ? Properties(rng, Ctx.Subscribe) : null,
            Subscriptions = ListOf(rng, 1, 5, r =>
            {
                var shared = r.Next(5) == 0;
                var filter = shared ? "$share/" + Word(r) + "/" + TopicFilter(r) : TopicFilter(r);
                return v5
                    ? new MqttTopicSubscription(filter, (MqttQos)r.Next(3), !shared && r.Next(2) == 1, r.Next(2) == 1,
                        (MqttRetainHandling)r.Next(3))
                    : new MqttTopicSubscription(filter, (MqttQos)r.Next(3));
            }),
        };
    }

    public static MqttProperties? Properties(Random rng, Ctx ctx)
    {
        if (rng.Next(4) == 0)
            return null;
        var p = new MqttProperties();
        bool Maybe() => rng.Next(3) == 0;
        switch (ctx)
        {
            case Ctx.Connect:
                if (Maybe()) p.SessionExpiryInterval = (uint)rng.NextInt64(0, uint.MaxValue + 1L);
                if (Maybe()) { p.AuthenticationMethod = Text(rng); if (Maybe()) p.AuthenticationData = Bytes(rng, 10); }
                if (Maybe()) p.RequestProblemInformation = (byte)rng.Next(2);
                if (Maybe()) p.RequestResponseInformation = (byte)rng.Next(2);
                if (Maybe()) p.ReceiveMaximum = (ushort)rng.Next(1, 65536);
                if (Maybe()) p.TopicAliasMaximum = (ushort)rng.Next(65536);
                if (Maybe()) p.MaximumPacketSize = (uint)rng.NextInt64(1, uint.MaxValue + 1L);
                break;
            case Ctx.Will:
                if (Maybe()) p.PayloadFormatIndicator = (byte)rng.Next(2);
                if (Maybe()) p.MessageExpiryInterval = (uint)rng.Next();
                if (Maybe()) p.ContentType = Text(rng);
                if (Maybe()) p.ResponseTopic = TopicName(rng);
                if (Maybe()) p.CorrelationData = Bytes(rng, 16);
                if (Maybe()) p.WillDelayInterval = (uint)rng.Next();
                break;
            case Ctx.ConnAck:
                if (Maybe()) p.SessionExpiryInterval = (uint)rng.Next();
                if (Maybe()) p.AssignedClientIdentifier = Text(rng);
                if (Maybe()) p.ServerKeepAlive = (ushort)rng.Next(65536);
                if (Maybe()) { p.AuthenticationMethod = Text(rng); if (Maybe()) p.AuthenticationData = Bytes(rng, 10); }
                if (Maybe()) p.ResponseInformation = Text(rng);
                if (Maybe()) p.ServerReference = Text(rng);
                if (Maybe()) p.ReasonString = Text(rng);
                if (Maybe()) p.ReceiveMaximum = (ushort)rng.Next(1, 65536);
                if (Maybe()) p.TopicAliasMaximum = (ushort)rng.Next(65536);
                if (Maybe()) p.MaximumQos = (byte)rng.Next(2);
                if (Maybe()) p.RetainAvailable = (byte)rng.Next(2);
                if (Maybe()) p.MaximumPacketSize = (uint)rng.Next(1, int.MaxValue);
                if (Maybe()) p.WildcardSubscriptionAvailable = (byte)rng.Next(2);
                if (Maybe()) p.SubscriptionIdentifiersAvailable = (byte)rng.Next(2);
                if (Maybe()) p.SharedSubscriptionAvailable = (byte)rng.Next(2);
                break;
            case Ctx.Publish:
                if (Maybe()) p.PayloadFormatIndicator = (byte)rng.Next(2);
                if (Maybe()) p.ContentType = Text(rng);
                if (Maybe()) p.ResponseTopic = TopicName(rng);
                if (Maybe()) p.CorrelationData = Bytes(rng, 16);
                break;
            case Ctx.Subscribe:
                if (Maybe()) p.SubscriptionIdentifier = (uint)rng.Next(1, 268_435_456);
                break;
            case Ctx.Ack or Ctx.SubAck or Ctx.UnsubAck:
                if (Maybe()) p.ReasonString = Text(rng);
                break;
            case Ctx.Disconnect:
                if (Maybe()) p.SessionExpiryInterval = (uint)rng.Next();
                if (Maybe()) p.ServerReference = Text(rng);
                if (Maybe()) p.ReasonString = Text(rng);
                break;
            case Ctx.Auth:
                if (Maybe()) { p.AuthenticationMethod = Text(rng); if (Maybe()) p.AuthenticationData = Bytes(rng, 10); }
                if (Maybe()) p.ReasonString = Text(rng);
                break;
        }
        if (Maybe())
            p.UserProperties = ListOf(rng, 1, 4, r => new MqttUserProperty(r.Next(4) == 0 ? "" : Text(r), Text(r)));
        return p;
    }

    /// <summary>The ones a PUBLISH carries to its subscribers, as <see cref="MqttPublishPacket.Properties"/> holds them.</summary>
    public static MessageProperties? ToMessageProperties(MqttProperties? p) => p is null ? null : new MessageProperties
    {
        PayloadFormatIndicator = p.PayloadFormatIndicator,
        ContentType = p.ContentType,
        ResponseTopic = p.ResponseTopic,
        CorrelationData = p.CorrelationData,
        UserProperties = p.UserProperties is { } users ? [.. users] : [],
    };

    public static string Describe(MessageProperties? p) => Describe(p is null ? null : new MqttProperties
    {
        PayloadFormatIndicator = p.PayloadFormatIndicator,
        ContentType = p.ContentType,
        ResponseTopic = p.ResponseTopic,
        CorrelationData = p.CorrelationData?.ToArray(),
        UserProperties = [.. p.UserProperties],
    });

    public static string TopicName(Random rng)
    {
        var topic = string.Join('/', ListOf(rng, 1, 4, r => r.Next(6) == 0 ? "" : Word(r)));
        return topic.Length == 0 ? "t" : topic;
    }

    public static string TopicFilter(Random rng)
    {
        var levels = ListOf(rng, 1, 4, r => r.Next(4) == 0 ? "+" : Word(r));
        if (rng.Next(4) == 0)
            levels.Add("#");
        return string.Join('/', levels);
    }

    private static string Word(Random rng) => Words[rng.Next(Words.Length)];

    private static string Text(Random rng) => string.Concat(ListOf(rng, 0, 3, Word));

    private static byte[] Bytes(Random rng, int max)
    {
        var bytes = new byte[rng.Next(max + 1)];
        rng.NextBytes(bytes);
        return bytes;
    }

    private static ushort PacketId(Random rng) => (ushort)rng.Next(1, 65536);

    private static T Pick<T>(Random rng, T[] items) => items[rng.Next(items.Length)];

    private static List<T> ListOf<T>(Random rng, int min, int max, Func<Random, T> item)
    {
        var count = rng.Next(min, max + 1);
        var list = new List<T>(count);
        for (var i = 0; i < count; i++)
            list.Add(item(rng));
        return list;
    }

    /// <summary>Canonical text of every field, so two packets compare field by field with a readable diff.</summary>
    public static string Describe(MqttPacket packet)
    {
        var sb = new StringBuilder(packet.Type.ToString());
        switch (packet)
        {
            case MqttConnectPacket c:
                sb.Append($" v={c.ProtocolVersion} id='{c.ClientId}' clean={c.CleanSession} ka={c.KeepAlive}")
                    .Append($" user={c.Username ?? "<null>"} pass={Hex(c.Password)}")
                    .Append($" will={c.WillTopic ?? "<null>"}");
                if (c.WillTopic is not null)
                    sb.Append($" wq={c.WillQos} wr={c.WillRetain} wp={Hex(c.WillPayload)} wprops={Describe(c.WillProperties)}");
                sb.Append($" props={Describe(c.Properties)}");
                break;
            case MqttConnAckPacket c:
                sb.Append($" sp={c.SessionPresent} rc={c.ReasonCode} props={Describe(c.Properties)}");
                break;
            case MqttPublishPacket p:
                sb.Append($" topic='{p.Topic}' q={p.Qos} r={p.Retain} d={p.Dup} id={p.PacketId} alias={p.TopicAlias}")
                    .Append($" mei={p.MessageExpiryInterval?.ToString() ?? "-"}")
                    .Append($" subids={(p.SubscriptionIdentifiers is { Count: > 0 } ids ? string.Join(',', ids) : "-")}")
                    .Append($" payload={Convert.ToHexString(p.Payload.Span)} props={Describe(p.Properties)}");
                break;
            case MqttAckPacket a:
                sb.Append($" id={a.PacketId} rc={a.ReasonCode} props={Describe(a.Properties)}");
                break;
            case MqttSubscribePacket s:
                sb.Append($" id={s.PacketId} props={Describe(s.Properties)} subs=");
                foreach (var x in s.Subscriptions)
                    sb.Append($"[{x.TopicFilter} {x.Qos} nl={x.NoLocal} rap={x.RetainAsPublished} rh={x.RetainHandling}]");
                break;
            case MqttSubAckPacket s:
                sb.Append($" id={s.PacketId} props={Describe(s.Properties)} codes={string.Join(',', s.ReasonCodes)}");
                break;
            case MqttUnsubscribePacket u:
                sb.Append($" id={u.PacketId} props={Describe(u.Properties)} filters={string.Join('|', u.TopicFilters)}");
                break;
            case MqttUnsubAckPacket u:
                sb.Append($" id={u.PacketId} props={Describe(u.Properties)} codes={string.Join(',', u.ReasonCodes)}");
                break;
            case MqttDisconnectPacket d:
                sb.Append($" rc={d.ReasonCode} props={Describe(d.Properties)}");
                break;
            case MqttAuthPacket a:
                sb.Append($" rc={a.ReasonCode} props={Describe(a.Properties)}");
                break;
        }
        return sb.ToString();
    }

    /// <summary>Absent and empty property sets print the same: both are "no properties" on the wire.</summary>
    public static string Describe(MqttProperties? p)
    {
        if (p is null)
            return "{}";
        var sb = new StringBuilder("{");
        void Add(string name, object? value)
        {
            if (value is not null)
                sb.Append(name).Append('=').Append(value is byte[] b ? Convert.ToHexString(b) : value.ToString()).Append(';');
        }
        Add("pfi", p.PayloadFormatIndicator);
        Add("mei", p.MessageExpiryInterval);
        Add("ct", p.ContentType);
        Add("rt", p.ResponseTopic);
        Add("cd", p.CorrelationData);
        Add("sid", p.SubscriptionIdentifier);
        Add("sei", p.SessionExpiryInterval);
        Add("aci", p.AssignedClientIdentifier);
        Add("ska", p.ServerKeepAlive);
        Add("am", p.AuthenticationMethod);
        Add("ad", p.AuthenticationData);
        Add("rpi", p.RequestProblemInformation);
        Add("wdi", p.WillDelayInterval);
        Add("rri", p.RequestResponseInformation);
        Add("ri", p.ResponseInformation);
        Add("sr", p.ServerReference);
        Add("rs", p.ReasonString);
        Add("rm", p.ReceiveMaximum);
        Add("tam", p.TopicAliasMaximum);
        Add("mq", p.MaximumQos);
        Add("ra", p.RetainAvailable);
        if (p.UserProperties is { Count: > 0 } ups)
        {
            foreach (var up in ups)
                sb.Append($"up={up.Name}:{up.Value};");
        }
        Add("mps", p.MaximumPacketSize);
        Add("wsa", p.WildcardSubscriptionAvailable);
        Add("sia", p.SubscriptionIdentifiersAvailable);
        Add("ssa", p.SharedSubscriptionAvailable);
        return sb.Append('}').ToString();
    }

    private static string Hex(byte[]? bytes) => bytes is null ? "<null>" : "0x" + Convert.ToHexString(bytes);
}
