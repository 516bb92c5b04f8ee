namespace Broker.Core.Persistence;

/// <summary>
/// A record's key while it waits in the <see cref="PersistenceJournal"/>: its kind, the session's client id and a
/// number, compared and hashed as they are. The store's text key (<see cref="ToString"/>) is made only for what
/// reaches the disk: most messages are acknowledged within the journal's window, so a string per message (and
/// hashing and comparing it twice) was most of the journal's cost on the publish path.
/// </summary>
internal readonly struct JournalKey : IEquatable<JournalKey>
{
    private readonly string _clientId;
    private readonly ulong _number;
    private readonly char _kind;
    private readonly int _hash;

    /// <param name="clientHash"><paramref name="clientId"/>'s hash code, which a session computes once.</param>
    private JournalKey(char kind, string clientId, int clientHash, ulong number)
    {
        _kind = kind;
        _clientId = clientId;
        _number = number;
        _hash = HashCode.Combine(clientHash, number, kind);
    }

    /// <summary><c>s/&lt;client id&gt;</c>: the session's record.</summary>
    public static JournalKey Session(string clientId, int clientHash) => new('s', clientId, clientHash, 0);

    /// <summary><c>m/&lt;client id&gt;/&lt;sequence, 16 hex digits&gt;</c>: one of its messages, in delivery order.</summary>
    public static JournalKey Message(string clientId, int clientHash, long sequence) => new('m', clientId, clientHash, (ulong)sequence);

    /// <summary><c>r/&lt;client id&gt;/&lt;packet id, 4 hex digits&gt;</c>: an incoming QoS 2 packet id awaiting PUBREL.</summary>
    public static JournalKey AwaitingRel(string clientId, int clientHash, ushort packetId) => new('r', clientId, clientHash, packetId);

    /// <inheritdoc cref="Session(string, int)"/>
    public static JournalKey Session(string clientId) => Session(clientId, clientId.GetHashCode());

    /// <inheritdoc cref="Message(string, int, long)"/>
    public static JournalKey Message(string clientId, long sequence) => Message(clientId, clientId.GetHashCode(), sequence);

    /// <inheritdoc cref="AwaitingRel(string, int, ushort)"/>
    public static JournalKey AwaitingRel(string clientId, ushort packetId) => AwaitingRel(clientId, clientId.GetHashCode(), packetId);

    public bool Equals(JournalKey other) =>
        _hash == other._hash && _number == other._number && _kind == other._kind && (ReferenceEquals(_clientId, other._clientId) || string.Equals(_clientId, other._clientId, StringComparison.Ordinal));

    public override bool Equals(object? obj) => obj is JournalKey other && Equals(other);

    public override int GetHashCode() => _hash;

    /// <summary>The store's key: <c>kind/clientId</c>, then <c>/number</c> in lower-case hex (16 digits for a message, 4 for a packet id).</summary>
    public override string ToString() => _kind == 's'
        ? "s/" + _clientId
        : string.Create(3 + _clientId.Length + (_kind == 'm' ? 16 : 4), this, static (span, key) =>
        {
            span[0] = key._kind;
            span[1] = '/';
            key._clientId.CopyTo(span[2..]);
            span[2 + key._clientId.Length] = '/';
            var number = key._number;
            for (var i = span.Length - 1; i > 2 + key._clientId.Length; i--, number >>= 4)
                span[i] = "0123456789abcdef"[(int)(number & 0xF)];
        });

    public static bool operator ==(JournalKey left, JournalKey right) => left.Equals(right);

    public static bool operator !=(JournalKey left, JournalKey right) => !left.Equals(right);
}
