using System.Globalization;
using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;

namespace Broker.Core.Persistence;

/// <summary>What one persistent session keeps besides its messages.</summary>
internal sealed record SessionRecord(
    uint ExpiryInterval,
    long DisconnectedAtUnixMs,
    string? Username,
    bool IsSuperuser,
    IReadOnlyList<KeyValuePair<string, SubscriptionOptions>> Subscriptions,
    IReadOnlyList<string> Trusted,
    BrokerMessage? Will,
    long WillAtUnixMs) : IJournalValue
{
    public void WriteTo(BinaryWriter writer) => SessionRecords.Write(writer, this);
}

/// <summary>Where a stored outgoing message is: waiting in the queue, sent (with its packet id), or PUBREC received.</summary>
internal enum StoredMessageState : byte
{
    Queued = 0,
    InFlight = 1,
    Released = 2,
}

/// <summary>One outgoing QoS 1/2 message of a persistent session.</summary>
internal sealed record MessageRecord(StoredMessageState State, ushort PacketId, MqttQos Qos, bool Retain, IReadOnlyList<uint>? SubscriptionIds, BrokerMessage Message)
    : IJournalValue
{
    public void WriteTo(BinaryWriter writer) => SessionRecords.Write(writer, this);
}

/// <summary>
/// The store's keys and values for sessions. Keys: <c>s/&lt;client id&gt;</c> the session, <c>m/&lt;client
/// id&gt;/&lt;sequence, 16 hex digits&gt;</c> its messages in delivery order, <c>r/&lt;client id&gt;/&lt;packet id, 4 hex
/// digits&gt;</c> incoming QoS 2 packet ids awaiting PUBREL. Values start with a format version byte; a value of a newer
/// version is refused (<see cref="InvalidDataException"/>) rather than misread.
/// </summary>
internal static class SessionRecords
{
    public const byte Version = 1;

    /// <summary>The kind (<c>s</c>, <c>m</c>, <c>r</c>), client id and number of a key; false for a key that is none of them.</summary>
    public static bool TryParseKey(string key, out char kind, out string clientId, out long number)
    {
        kind = key.Length > 2 && key[1] == '/' ? key[0] : '\0';
        clientId = "";
        number = 0;
        var digits = kind switch { 's' => 0, 'm' => 16, 'r' => 4, _ => -1 };
        if (digits < 0 || (digits > 0 && (key.Length < 3 + digits + 1 || key[^(digits + 1)] != '/')))
            return false;
        clientId = digits == 0 ? key[2..] : key[2..^(digits + 1)];
        return digits == 0 || long.TryParse(key.AsSpan(key.Length - digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out number);
    }

    /// <summary>A record's bytes (what the journal's writer makes through a buffer of its own).</summary>
    public static byte[] Encode(IJournalValue value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
            value.WriteTo(writer);
        return buffer.ToArray();
    }

    public static void Write(BinaryWriter writer, SessionRecord record)
    {
        writer.Write(Version);
        writer.Write(record.ExpiryInterval);
        writer.Write(record.DisconnectedAtUnixMs);
        WriteNullable(writer, record.Username);
        writer.Write(record.IsSuperuser);
        writer.Write(record.Subscriptions.Count);
        foreach (var (filter, options) in record.Subscriptions)
        {
            writer.Write(filter);
            writer.Write((byte)options.Qos);
            writer.Write(options.NoLocal);
            writer.Write(options.RetainAsPublished);
            writer.Write((byte)options.RetainHandling);
            writer.Write(options.SubscriptionIdentifier);
        }
        writer.Write(record.Trusted.Count);
        foreach (var filter in record.Trusted)
            writer.Write(filter);
        writer.Write(record.Will is not null);
        if (record.Will is { } will)
        {
            BrokerMessageCodec.Write(writer, will);
            writer.Write(record.WillAtUnixMs);
        }
    }

    public static SessionRecord ReadSession(byte[] value) => Decode(value, reader =>
    {
        var expiry = reader.ReadUInt32();
        var disconnectedAt = reader.ReadInt64();
        var username = ReadNullable(reader);
        var superuser = reader.ReadBoolean();
        var count = reader.ReadInt32();
        var subscriptions = new List<KeyValuePair<string, SubscriptionOptions>>(count);
        for (var i = 0; i < count; i++)
        {
            var filter = reader.ReadString();
            subscriptions.Add(new(filter, new SubscriptionOptions((MqttQos)reader.ReadByte(), reader.ReadBoolean(), reader.ReadBoolean(),
                (MqttRetainHandling)reader.ReadByte(), reader.ReadUInt32())));
        }
        var trusted = new string[reader.ReadInt32()];
        for (var i = 0; i < trusted.Length; i++)
            trusted[i] = reader.ReadString();
        BrokerMessage? will = null;
        long willAt = 0;
        if (reader.ReadBoolean())
        {
            will = BrokerMessageCodec.Read(reader);
            willAt = reader.ReadInt64();
        }
        return new SessionRecord(expiry, disconnectedAt, username, superuser, subscriptions, trusted, will, willAt);
    });

    public static void Write(BinaryWriter writer, MessageRecord record)
    {
        writer.Write(Version);
        writer.Write((byte)record.State);
        writer.Write(record.PacketId);
        writer.Write((byte)record.Qos);
        writer.Write(record.Retain);
        writer.Write(record.SubscriptionIds?.Count ?? 0);
        if (record.SubscriptionIds is { } ids)
        {
            foreach (var id in ids)
                writer.Write(id);
        }
        BrokerMessageCodec.Write(writer, record.Message);
    }

    public static MessageRecord ReadMessage(byte[] value) => Decode(value, reader =>
    {
        var state = (StoredMessageState)reader.ReadByte();
        var packetId = reader.ReadUInt16();
        var qos = (MqttQos)reader.ReadByte();
        var retain = reader.ReadBoolean();
        var count = reader.ReadInt32();
        List<uint>? ids = count == 0 ? null : new List<uint>(count);
        for (var i = 0; i < count; i++)
            ids!.Add(reader.ReadUInt32());
        return new MessageRecord(state, packetId, qos, retain, ids, BrokerMessageCodec.Read(reader));
    });

    private static T Decode<T>(byte[] value, Func<BinaryReader, T> read)
    {
        using var reader = new BinaryReader(new MemoryStream(value), Encoding.UTF8);
        var version = reader.ReadByte();
        if (version > Version)
            throw new InvalidDataException($"a session record of format version {version}, newer than this broker's {Version}: written by a newer broker");
        try
        {
            return read(reader);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException("a session record ends early (corrupt)", ex);
        }
    }

    /// <summary>
    /// One session's records as one value, for a handover to another node (cluster takeover): <see cref="Version"/>, the
    /// number of records, then each key (<see cref="BinaryWriter.Write(string)"/>) and value (length, bytes).
    /// </summary>
    public static byte[] EncodeHandover(List<KeyValuePair<string, byte[]>> records)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Version);
            writer.Write(records.Count);
            foreach (var (key, value) in records)
            {
                writer.Write(key);
                writer.Write(value.Length);
                writer.Write(value);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>The records of <see cref="EncodeHandover"/>.</summary>
    public static List<KeyValuePair<string, byte[]>> DecodeHandover(byte[] value) => Decode(value, reader =>
    {
        var count = reader.ReadInt32();
        if (count < 0 || count > value.Length)
            throw new InvalidDataException($"a session handover of {count} records");
        var records = new List<KeyValuePair<string, byte[]>>(count);
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadString();
            var length = reader.ReadInt32();
            if (length < 0 || length > value.Length)
                throw new InvalidDataException($"a session handover record of {length} bytes");
            records.Add(new(key, reader.ReadBytes(length)));
        }
        return records;
    });

    private static void WriteNullable(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null)
            writer.Write(value);
    }

    private static string? ReadNullable(BinaryReader reader) => reader.ReadBoolean() ? reader.ReadString() : null;
}
