using System.Globalization;
using System.Text;
using Broker.Abstractions;
using Broker.Core.Routing;

namespace Broker.Cluster;

/// <summary>The NATS subjects of one cluster (see <see cref="ClusterNode"/>).</summary>
internal sealed class NodeSubjects(string clusterName)
{
    public string Node(string token) => clusterName + ".node." + token;

    public string Snapshot(string token) => clusterName + ".snap." + token;

    public string Forward(string token) => clusterName + ".fwd." + token;

    /// <summary>Acknowledgements of the numbered forwards node <paramref name="token"/> sent (<see cref="ForwardAck"/>).</summary>
    public string Ack(string token) => clusterName + ".ack." + token;

    /// <summary>Request/reply: the management API's questions to node <paramref name="token"/> (<see cref="ClusterNode.AskAsync"/>).</summary>
    public string Api(string token) => clusterName + ".api." + token;

    /// <summary>Request/reply: another node takes a client id from node <paramref name="token"/> (<see cref="ClusterNode.ClaimClientAsync"/>).</summary>
    public string Owner(string token) => clusterName + ".own." + token;

    /// <summary>Request/reply: another node tells node <paramref name="token"/> it holds messages for a client id this node owns (<see cref="ClusterNode.HandUndeliveredAsync"/>).</summary>
    public string Undelivered(string token) => clusterName + ".undelivered." + token;

    /// <summary>Request/reply: node <paramref name="token"/> answers with what it holds for a client id another node owns.</summary>
    public string Held(string token) => clusterName + ".held." + token;

    /// <summary>
    /// A node name as one subject token: node names hold '.' and '@' (<c>broker@10.0.0.1</c>), which NATS reads as
    /// separators or may refuse, so other characters become '_' and a hash of the whole name keeps two names apart.
    /// </summary>
    public string Token(string nodeName) => TokenOf(nodeName);

    /// <inheritdoc cref="Token"/>
    public static string TokenOf(string nodeName)
    {
        var builder = new StringBuilder(nodeName.Length + 9);
        foreach (var c in nodeName)
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_');
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(nodeName))
            hash = (hash ^ b) * 16777619u;
        return builder.Append('-').Append(hash.ToString("x8", CultureInfo.InvariantCulture)).ToString();
    }
}

internal enum ControlKind : byte
{
    Heartbeat = (byte)'H',
    RouteAdded = (byte)'A',
    RouteRemoved = (byte)'D',
    Bye = (byte)'B',

    /// <summary>The sender leaves the cluster (<c>ctl cluster leave</c>): the others forget it, not just mark it down.</summary>
    Leave = (byte)'L',

    /// <summary>
    /// <c>ctl cluster force-leave</c> on the sender: the node named in the filter field is removed from the cluster;
    /// if it runs, it leaves. Nodes of a version without it ignore it (their <c>TryDecode</c> refuses the kind).
    /// </summary>
    ForceLeave = (byte)'F',
}

/// <summary>
/// What a node says about itself on its subject: kind, boot id (new at every start), version of its route
/// announcements, connections, start time, name, filter; fields separated by NUL, which no topic filter or node name
/// holds (MQTT forbids U+0000 in topics).
/// </summary>
internal readonly record struct ControlMessage(ControlKind Kind, long Version, string Filter)
{
    public readonly record struct Decoded(ControlKind Kind, string Boot, long Version, int Connections, long StartedAt, string Name, string Filter);

    public static byte[] Encode(ControlKind kind, string boot, long version, string filter, int connections, long startedAt, string name) =>
        Encoding.UTF8.GetBytes(string.Join('\0',
            ((char)kind).ToString(), boot, version.ToString(CultureInfo.InvariantCulture),
            connections.ToString(CultureInfo.InvariantCulture), startedAt.ToString(CultureInfo.InvariantCulture), name, filter));

    public static bool TryDecode(byte[] data, out Decoded decoded)
    {
        decoded = default;
        string[] parts;
        try
        {
            parts = Encoding.UTF8.GetString(data).Split('\0');
        }
        catch (ArgumentException)
        {
            return false;
        }
        if (parts.Length != 7 || parts[0].Length != 1
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var version)
            || !int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var connections)
            || !long.TryParse(parts[4], NumberStyles.None, CultureInfo.InvariantCulture, out var startedAt))
            return false;
        var kind = (ControlKind)parts[0][0];
        if (kind is not (ControlKind.Heartbeat or ControlKind.RouteAdded or ControlKind.RouteRemoved or ControlKind.Bye
            or ControlKind.Leave or ControlKind.ForceLeave))
            return false;
        decoded = new Decoded(kind, parts[1], version, connections, startedAt, parts[5], parts[6]);
        return true;
    }
}

/// <summary>A node's whole route table as its snapshot reply carries it: boot id, version, filters; NUL-separated.</summary>
internal static class RouteSnapshot
{
    public readonly record struct Decoded(string Boot, long Version, string[] Filters);

    public static byte[] Encode(string boot, long version, IEnumerable<string> filters) =>
        Encoding.UTF8.GetBytes(string.Join('\0', [boot, version.ToString(CultureInfo.InvariantCulture), .. filters]));

    public static bool TryDecode(byte[] data, out Decoded decoded)
    {
        decoded = default;
        var parts = Encoding.UTF8.GetString(data).Split('\0');
        if (parts.Length < 2 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            return false;
        decoded = new Decoded(parts[0], version, parts[2..]);
        return true;
    }
}

/// <summary>
/// A forwarded message. For the receiving node's ordinary subscribers only, it is <see cref="BrokerMessageCodec"/>'s
/// versioned form alone. When it is (also or only) for share groups the sender chose that node for, an envelope comes
/// first: <see cref="ScopedMarker"/>, 1 if the ordinary subscribers get it too else 0, the number of groups (7-bit
/// encoded), each group and its topic filter (<see cref="BinaryWriter.Write(string)"/>), then the message.
/// </summary>
internal static class ForwardCodec
{
    /// <summary>Starts an envelope; never a <see cref="BrokerMessageCodec"/> version (those count up from 1).</summary>
    public const byte ScopedMarker = 0xFE;

    /// <param name="message">The message.</param>
    /// <param name="ordinary">Whether the receiving node's ordinary subscribers get it.</param>
    /// <param name="groups">The (share group, filter) pairs the receiving node delivers it to one member of; null for none.</param>
    public static byte[] Encode(BrokerMessage message, bool ordinary = true, List<(string Group, string Filter)>? groups = null)
    {
        using var stream = new MemoryStream(64 + message.Topic.Length + message.Payload.Length);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            if (groups is { Count: > 0 })
            {
                writer.Write(ScopedMarker);
                writer.Write(ordinary ? (byte)1 : (byte)0);
                writer.Write7BitEncodedInt(groups.Count);
                foreach (var (group, filter) in groups)
                {
                    writer.Write(group);
                    writer.Write(filter);
                }
            }
            BrokerMessageCodec.Write(writer, message);
        }
        return stream.ToArray();
    }

    /// <exception cref="InvalidDataException">Not a forwarded message this broker reads.</exception>
    /// <exception cref="EndOfStreamException">Cut short.</exception>
    public static BrokerMessage Decode(byte[] data, out DeliveryScope scope) => Decode(data, 0, out scope);

    /// <summary>Reads the forward that starts at <paramref name="offset"/> (after a <see cref="ForwardEnvelope"/>).</summary>
    public static BrokerMessage Decode(byte[] data, int offset, out DeliveryScope scope) => Decode(new ArraySegment<byte>(data, offset, data.Length - offset), out scope);

    /// <summary>Reads the forward in <paramref name="bytes"/> (one of a <see cref="ForwardBatch"/>).</summary>
    public static BrokerMessage Decode(ArraySegment<byte> bytes, out DeliveryScope scope)
    {
        var (data, offset) = (bytes.Array!, bytes.Offset);
        using var reader = new BinaryReader(new MemoryStream(data, offset, bytes.Count, writable: false), Encoding.UTF8);
        scope = DeliveryScope.OrdinaryOnly;
        if (bytes.Count > 0 && data[offset] == ScopedMarker)
        {
            reader.ReadByte();
            var ordinary = reader.ReadByte() switch
            {
                0 => false,
                1 => true,
                var other => throw new InvalidDataException($"forward envelope flag {other}"),
            };
            var count = reader.Read7BitEncodedInt();
            if (count <= 0 || count > bytes.Count)
                throw new InvalidDataException($"forward envelope with {count} groups");
            var groups = new (string, string)[count];
            for (var i = 0; i < count; i++)
                groups[i] = (reader.ReadString(), reader.ReadString());
            scope = new DeliveryScope(ordinary, groups);
        }
        return BrokerMessageCodec.Read(reader);
    }
}

/// <summary>
/// Numbered forwards for one receiving node, as many as the sender had queued when it woke, in one NATS message
/// (<see cref="ClusterNode"/>, "Forwards are acknowledged"): a marker, the number of the first (the others follow it
/// one by one), the oldest number the sender still holds for that node (it will never send an older one again), the
/// sender's subject token and boot id, the count, then each forward as its length and <see cref="ForwardCodec"/>'s bytes.
/// </summary>
internal static class ForwardBatch
{
    /// <summary>Starts a batch: neither a <see cref="BrokerMessageCodec"/> version nor <see cref="ForwardCodec.ScopedMarker"/>
    /// (nor 0xFD, the single numbered forward of the version before batches).</summary>
    public const byte Marker = 0xFC;

    /// <summary>What a batch's header says; the forwards are numbered <c>FirstSequence</c> to <c>FirstSequence + Count - 1</c>.</summary>
    public readonly record struct Header(long FirstSequence, long OldestHeld, string SenderToken, string SenderBoot, int Count);

    public static byte[] Write(long firstSequence, long oldestHeld, string senderToken, string senderBoot, List<byte[]> bodies)
    {
        var size = 48 + senderToken.Length + senderBoot.Length;
        foreach (var body in bodies)
            size += body.Length + 5;
        using var stream = new MemoryStream(size);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Marker);
            writer.Write7BitEncodedInt64(firstSequence);
            writer.Write7BitEncodedInt64(oldestHeld);
            writer.Write(senderToken);
            writer.Write(senderBoot);
            writer.Write7BitEncodedInt(bodies.Count);
            foreach (var body in bodies)
            {
                writer.Write7BitEncodedInt(body.Length);
                writer.Write(body);
            }
        }
        return stream.GetBuffer().AsSpan(0, (int)stream.Length).ToArray();
    }

    /// <summary>Reads the header; the forwards follow at <paramref name="offset"/> (read each with <see cref="Next"/>).</summary>
    /// <exception cref="InvalidDataException">Not a batch, or a count that cannot be right.</exception>
    /// <exception cref="EndOfStreamException">Cut short.</exception>
    public static Header ReadHeader(byte[] data, out int offset)
    {
        if (data.Length == 0 || data[0] != Marker)
            throw new InvalidDataException(data.Length == 0 ? "an empty forward" : $"not a forward batch of this version (first byte 0x{data[0]:X2}): all nodes must run the same version");
        using var stream = new MemoryStream(data, writable: false);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        reader.ReadByte();
        var first = reader.Read7BitEncodedInt64();
        var oldest = reader.Read7BitEncodedInt64();
        var token = reader.ReadString();
        var boot = reader.ReadString();
        var count = reader.Read7BitEncodedInt();
        if (count <= 0 || count > data.Length || first <= 0)
            throw new InvalidDataException($"forward batch of {count} from number {first}");
        offset = (int)stream.Position;
        return new Header(first, oldest, token, boot, count);
    }

    /// <summary>The next forward's bytes, at <paramref name="offset"/>, which moves past them.</summary>
    /// <exception cref="EndOfStreamException">Cut short.</exception>
    public static ArraySegment<byte> Next(byte[] data, ref int offset)
    {
        var length = 0;
        var shift = 0;
        while (true)
        {
            if (offset >= data.Length || shift > 28)
                throw new EndOfStreamException("forward batch cut short");
            var b = data[offset++];
            length |= (b & 0x7F) << shift;
            if (b < 0x80)
                break;
            shift += 7;
        }
        if (length < 0 || length > data.Length - offset)
            throw new EndOfStreamException("forward batch cut short");
        var segment = new ArraySegment<byte>(data, offset, length);
        offset += length;
        return segment;
    }
}

/// <summary>
/// A receiving node's word on the numbered forwards of one sender: every number up to <c>Acked</c> is in its sessions
/// (the sender's publishers get their PUBACK/PUBREC), and every number up to <c>Received</c> (at least <c>Acked</c>)
/// has arrived; the two differ while the receiver holds an acknowledgement back because a subscriber of its is behind
/// (back-pressure), and the sender sends again only what it has not received. With <c>Gap</c>, a later one arrived
/// while the one after <c>Received</c> is missing (send again from there). Then, only when there are any, the forwards
/// up to <c>Acked</c> whose share groups the receiver could not serve (it had no member of them any more): each as its
/// number, how many groups, and each group and its filter, so the sender places them on another node
/// (<see cref="ShareRedispatch"/>). Fields separated by NUL, which no group or filter holds.
/// </summary>
internal static class ForwardAck
{
    /// <summary>Forward <c>Sequence</c> arrived, but its share groups <c>Groups</c> had no member on the receiver.</summary>
    public readonly record struct Unserved(long Sequence, (string Group, string Filter)[] Groups);

    public readonly record struct Decoded(string ReceiverToken, string SenderBoot, long Acked, long Received, bool Gap, List<Unserved>? Unserved);

    public static byte[] Encode(string receiverToken, string senderBoot, long acked, long received, bool gap, List<Unserved>? unserved = null)
    {
        var parts = new List<string>
        {
            receiverToken, senderBoot, acked.ToString(CultureInfo.InvariantCulture), gap ? "1" : "0", received.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var entry in unserved ?? [])
        {
            parts.Add(entry.Sequence.ToString(CultureInfo.InvariantCulture));
            parts.Add(entry.Groups.Length.ToString(CultureInfo.InvariantCulture));
            foreach (var (group, filter) in entry.Groups)
            {
                parts.Add(group);
                parts.Add(filter);
            }
        }
        return Encoding.UTF8.GetBytes(string.Join('\0', parts));
    }

    public static bool TryDecode(byte[] data, out Decoded decoded)
    {
        decoded = default;
        var parts = Encoding.UTF8.GetString(data).Split('\0');
        if (parts.Length < 5
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var acked)
            || !long.TryParse(parts[4], NumberStyles.None, CultureInfo.InvariantCulture, out var received)
            || received < acked)
            return false;
        List<Unserved>? unserved = null;
        for (var i = 5; i < parts.Length;)
        {
            if (i + 2 > parts.Length
                || !long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
                || !int.TryParse(parts[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var count)
                || count <= 0 || i + 2 + 2 * count > parts.Length)
                return false;
            var groups = new (string, string)[count];
            for (var g = 0; g < count; g++)
                groups[g] = (parts[i + 2 + 2 * g], parts[i + 3 + 2 * g]);
            (unserved ??= []).Add(new Unserved(sequence, groups));
            i += 2 + 2 * count;
        }
        decoded = new Decoded(parts[0], parts[1], acked, received, parts[3] == "1", unserved);
        return true;
    }
}

/// <summary>Another node as this one knows it. Its routes are held in a <see cref="Broker.Core.Hosting.RouteIndex{TNode}"/>.</summary>
internal sealed class RemoteNode(string name, string boot, string forwardSubject, string snapshotSubject, DateTimeOffset startedAt, int maxForwardQueue)
{
    public string Name { get; } = name;

    public string Boot { get; } = boot;

    public string ForwardSubject { get; } = forwardSubject;

    public string SnapshotSubject { get; } = snapshotSubject;

    public DateTimeOffset StartedAt { get; } = startedAt;

    // The rest changes under the cluster's _members lock.
    public long LastSeen;
    public int Connections;
    public bool IsUp;
    public bool Synced;
    public bool EverSynced;
    public bool SyncInFlight;
    public long SyncGeneration;
    public long AppliedVersion;
    public readonly HashSet<string> Routes = new(StringComparer.Ordinal);
    public readonly List<ControlMessage.Decoded> Pending = [];

    /// <summary>Messages this node has queued for it.</summary>
    public long ForwardedTo;

    /// <summary>The numbered forwards to it not acknowledged yet (<see cref="ForwardQueue"/>).</summary>
    public readonly ForwardQueue Out = new(maxForwardQueue);

    /// <summary>1 while it is on the forwarding loop's list of nodes with something to send.</summary>
    public int Waking;
}

/// <summary>One node in <c>ctl cluster status</c> / <c>GET /api/v5/nodes</c>.</summary>
/// <param name="Name">node.name.</param>
/// <param name="IsSelf">True for the node answering.</param>
/// <param name="State">running or down.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="Uptime">Since it started.</param>
/// <param name="Connections">Its connections (as of its last heartbeat, for another node).</param>
/// <param name="Routes">Its routes (as this node holds them, for another node).</param>
/// <param name="ForwardedTo">Messages this node sent to it.</param>
/// <param name="ForwardedIn">For the answering node: messages it received from the others.</param>
/// <param name="LastSeen">Since its last heartbeat; null for the answering node.</param>
internal sealed record NodeStatus(
    string Name, bool IsSelf, string State, DateTimeOffset StartedAt, TimeSpan Uptime, int Connections, int Routes,
    long ForwardedTo, long ForwardedIn, TimeSpan? LastSeen);
