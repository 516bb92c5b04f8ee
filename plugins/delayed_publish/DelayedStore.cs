using System.Diagnostics;
using System.Text;

namespace Broker.Plugins.DelayedPublish;

/// <summary>
/// The binary form of a set of pending messages: the file <c>data/plugins/delayed_publish/pending.bin</c> and the
/// payload one instance hands to its successor on reload.
/// </summary>
/// <remarks>
/// Layout (little-endian, strings as <see cref="BinaryWriter"/> writes them): magic <c>DLYP</c>, format version 2,
/// the writing process (id and start time, so <c>storage_type = ram</c> can tell its own process's file from one left
/// by an earlier run), the count, then per message: its due time as UTC ticks and the message in the SDK's
/// <see cref="BrokerMessageCodec"/> form. Version 1 (before SDK 1.4) carried the message in a form of this plugin's
/// own; it is still read, so pending messages survive the upgrade, and the next save writes version 2.
/// </remarks>
internal static class DelayedStore
{
    /// <summary>The file name under the plugin's data directory.</summary>
    public const string FileName = "pending.bin";

    private static readonly byte[] s_magic = "DLYP"u8.ToArray();
    private const byte FormatVersion = 2;
    private const byte LegacyFormatVersion = 1;

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
        foreach (var entry in entries)
        {
            writer.Write(entry.Due.UtcTicks);
            BrokerMessageCodec.Write(writer, entry.Message);
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
            if (version is not (FormatVersion or LegacyFormatVersion))
                throw new InvalidDataException($"unknown delayed_publish format version {version}");
            process = reader.ReadString();
            var count = reader.ReadInt32();
            if (count < 0)
                throw new InvalidDataException("negative message count");
            var entries = new List<DelayedEntry>(Math.Min(count, 1 << 16));
            for (var i = 0; i < count; i++)
            {
                var due = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
                entries.Add(new DelayedEntry(due, version == FormatVersion ? BrokerMessageCodec.Read(reader) : Legacy.ReadMessage(reader, i)));
            }
            return entries;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("the data ends in the middle of a message");
        }
    }

    /// <summary>A message of format version 1, read only to upgrade an old file.</summary>
    private static class Legacy
    {
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

        /// <remarks>
        /// Timestamp (UTC ticks), topic, payload (int32 length, bytes), QoS, retain, has-expiry and expiry, has-publisher
        /// and publisher, system flag, then a byte of property flags and the properties present.
        /// </remarks>
        public static BrokerMessage ReadMessage(BinaryReader reader, int i)
        {
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
                return new BrokerMessage
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
                };
        }

        private static MessageProperties? ReadProperties(BinaryReader reader)
        {
            var flags = (PropertyFlags)reader.ReadByte();
            if (flags == PropertyFlags.None)
                return null;
            byte? format = flags.HasFlag(PropertyFlags.PayloadFormat) ? reader.ReadByte() : null;
            var contentType = flags.HasFlag(PropertyFlags.ContentType) ? reader.ReadString() : null;
            var responseTopic = flags.HasFlag(PropertyFlags.ResponseTopic) ? reader.ReadString() : null;
            byte[]? correlation = null;
            if (flags.HasFlag(PropertyFlags.CorrelationData))
            {
                var length = reader.ReadInt32();
                correlation = reader.ReadBytes(length);
                if (correlation.Length != length)
                    throw new EndOfStreamException();
            }
            var users = new List<MqttUserProperty>();
            if (flags.HasFlag(PropertyFlags.UserProperties))
            {
                var count = reader.ReadInt32();
                if (count < 0)
                    throw new InvalidDataException("negative user property count");
                for (var i = 0; i < count; i++)
                    users.Add(new MqttUserProperty(reader.ReadString(), reader.ReadString()));
            }
            return new MessageProperties
            {
                PayloadFormatIndicator = format,
                ContentType = contentType,
                ResponseTopic = responseTopic,
                CorrelationData = correlation,
                UserProperties = [.. users],
            };
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

    private static string DescribeCurrentProcess()
    {
        using var process = Process.GetCurrentProcess();
        return FormattableString.Invariant($"{Environment.ProcessId}@{process.StartTime.ToUniversalTime().Ticks}");
    }
}
