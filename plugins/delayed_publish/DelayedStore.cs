using System.Diagnostics;
using System.Text;

namespace Broker.Plugins.DelayedPublish;

/// <summary>
/// The binary form of a set of pending messages: the file <c>data/plugins/delayed_publish/pending.bin</c> and the
/// payload one instance hands to its successor on reload.
/// </summary>
/// <remarks>
/// Layout (little-endian, strings as <see cref="BinaryWriter"/> writes them): magic <c>DLYP</c>, format version 1,
/// the writing process (id and start time, so <c>storage_type = ram</c> can tell its own process's file from one left
/// by an earlier run), the count, then per message: due time and timestamp as UTC ticks, topic, payload, QoS,
/// retain, expiry interval, publisher id, system flag and the MQTT 5 properties a PUBLISH carries (payload format,
/// content type, response topic, correlation data, user properties).
/// </remarks>
internal static class DelayedStore
{
    /// <summary>The file name under the plugin's data directory.</summary>
    public const string FileName = "pending.bin";

    private static readonly byte[] s_magic = "DLYP"u8.ToArray();
    private const byte FormatVersion = 1;

    [Flags]
    private enum PropertyFlags : byte
    {
        None = 0,
        PayloadFormat = 1,
        ContentType = 2,
        ResponseTopic = 4,
        CorrelationData = 8,
        UserProperties = 16,
    }

    /// <summary>Identifies this broker process: its id and start time (ids are reused, the pair is not).</summary>
    public static string CurrentProcess { get; } = DescribeCurrentProcess();

    /// <summary>Writes <paramref name="entries"/> to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyCollection<DelayedEntry> entries)
    {
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(s_magic);
        writer.Write(FormatVersion);
        writer.Write(CurrentProcess);
        writer.Write(entries.Count);
        foreach (var (due, message) in entries)
        {
            writer.Write(due.UtcTicks);
            writer.Write(message.Timestamp.UtcTicks);
            writer.Write(message.Topic);
            writer.Write(message.Payload.Length);
            writer.Write(message.Payload.Span);
            writer.Write((byte)message.Qos);
            writer.Write(message.Retain);
            writer.Write(message.MessageExpiryInterval.HasValue);
            writer.Write(message.MessageExpiryInterval.GetValueOrDefault());
            writer.Write(message.PublisherId is not null);
            writer.Write(message.PublisherId ?? "");
            writer.Write(message.IsSystem);
            WriteProperties(writer, message.Properties);
        }
    }

    /// <summary>Reads what <see cref="Write"/> wrote.</summary>
    /// <param name="stream">The stream, positioned at the magic.</param>
    /// <param name="process">The <see cref="CurrentProcess"/> of the writer.</param>
    /// <exception cref="InvalidDataException">Not this format, or cut short.</exception>
    public static List<DelayedEntry> Read(Stream stream, out string process)
    {
        using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        try
        {
            if (!reader.ReadBytes(s_magic.Length).AsSpan().SequenceEqual(s_magic))
                throw new InvalidDataException("not a delayed_publish file (bad magic)");
            var version = reader.ReadByte();
            if (version != FormatVersion)
                throw new InvalidDataException($"unknown delayed_publish format version {version}");
            process = reader.ReadString();
            var count = reader.ReadInt32();
            if (count < 0)
                throw new InvalidDataException("negative message count");
            var entries = new List<DelayedEntry>(Math.Min(count, 1 << 16));
            for (var i = 0; i < count; i++)
            {
                var due = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
                var timestamp = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
                var topic = reader.ReadString();
                var payloadLength = reader.ReadInt32();
                var payload = reader.ReadBytes(payloadLength);
                if (payload.Length != payloadLength)
                    throw new EndOfStreamException();
                var qos = (MqttQos)reader.ReadByte();
                var retain = reader.ReadBoolean();
                var hasExpiry = reader.ReadBoolean();
                var expiry = reader.ReadUInt32();
                var hasPublisher = reader.ReadBoolean();
                var publisher = reader.ReadString();
                var isSystem = reader.ReadBoolean();
                var properties = ReadProperties(reader);
                if (qos > MqttQos.ExactlyOnce || topic.Length == 0)
                    throw new InvalidDataException($"bad message #{i}");
                entries.Add(new DelayedEntry(due, new BrokerMessage
                {
                    Topic = topic,
                    Payload = payload,
                    Qos = qos,
                    Retain = retain,
                    MessageExpiryInterval = hasExpiry ? expiry : null,
                    PublisherId = hasPublisher ? publisher : null,
                    Timestamp = timestamp,
                    IsSystem = isSystem,
                    Properties = properties,
                }));
            }
            return entries;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("the data ends in the middle of a message");
        }
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="entries"/> atomically (write a temporary file, flush it to disk, rename).</summary>
    public static void Save(string path, IReadOnlyCollection<DelayedEntry> entries)
    {
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            Write(file, entries);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads <paramref name="path"/>; an absent file is an empty set.</summary>
    /// <exception cref="InvalidDataException">The file is damaged.</exception>
    public static List<DelayedEntry> Load(string path, out string? process)
    {
        process = null;
        if (!File.Exists(path))
            return [];
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Read(file, out process);
    }

    private static void WriteProperties(BinaryWriter writer, MqttProperties? properties)
    {
        var flags = PropertyFlags.None;
        if (properties?.PayloadFormatIndicator is not null)
            flags |= PropertyFlags.PayloadFormat;
        if (properties?.ContentType is not null)
            flags |= PropertyFlags.ContentType;
        if (properties?.ResponseTopic is not null)
            flags |= PropertyFlags.ResponseTopic;
        if (properties?.CorrelationData is not null)
            flags |= PropertyFlags.CorrelationData;
        if (properties?.UserProperties is not null)
            flags |= PropertyFlags.UserProperties;
        writer.Write((byte)flags);
        if (properties is null)
            return;
        if (properties.PayloadFormatIndicator is { } format)
            writer.Write(format);
        if (properties.ContentType is { } contentType)
            writer.Write(contentType);
        if (properties.ResponseTopic is { } responseTopic)
            writer.Write(responseTopic);
        if (properties.CorrelationData is { } correlation)
        {
            writer.Write(correlation.Length);
            writer.Write(correlation);
        }
        if (properties.UserProperties is { } users)
        {
            writer.Write(users.Count);
            foreach (var (name, value) in users)
            {
                writer.Write(name);
                writer.Write(value);
            }
        }
    }

    private static MqttProperties? ReadProperties(BinaryReader reader)
    {
        var flags = (PropertyFlags)reader.ReadByte();
        if (flags == PropertyFlags.None)
            return null;
        var properties = new MqttProperties();
        if (flags.HasFlag(PropertyFlags.PayloadFormat))
            properties.PayloadFormatIndicator = reader.ReadByte();
        if (flags.HasFlag(PropertyFlags.ContentType))
            properties.ContentType = reader.ReadString();
        if (flags.HasFlag(PropertyFlags.ResponseTopic))
            properties.ResponseTopic = reader.ReadString();
        if (flags.HasFlag(PropertyFlags.CorrelationData))
        {
            var length = reader.ReadInt32();
            properties.CorrelationData = reader.ReadBytes(length);
            if (properties.CorrelationData.Length != length)
                throw new EndOfStreamException();
        }
        if (flags.HasFlag(PropertyFlags.UserProperties))
        {
            var count = reader.ReadInt32();
            if (count < 0)
                throw new InvalidDataException("negative user property count");
            var users = new List<MqttUserProperty>(Math.Min(count, 1024));
            for (var i = 0; i < count; i++)
                users.Add(new MqttUserProperty(reader.ReadString(), reader.ReadString()));
            properties.UserProperties = users;
        }
        return properties;
    }

    private static string DescribeCurrentProcess()
    {
        using var process = Process.GetCurrentProcess();
        return FormattableString.Invariant($"{Environment.ProcessId}@{process.StartTime.ToUniversalTime().Ticks}");
    }
}
