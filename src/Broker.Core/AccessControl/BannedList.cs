using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Core.AccessControl;

/// <summary>What a <see cref="Ban"/> names: its spelling in the API, <c>ctl</c> and the file is EMQX 4's (<see cref="BannedList.KindName"/>).</summary>
public enum BanKind
{
    ClientId,
    Username,
    Address,
}

/// <summary>One entry of the banned list: clients whose <paramref name="As"/> is <paramref name="Who"/> are refused until <paramref name="Until"/>.</summary>
/// <param name="As">What <paramref name="Who"/> is: a client id, a user name or a peer address.</param>
/// <param name="Who">The client id, user name, or address (normalised by <see cref="BannedList.Add"/>: IPv4-mapped IPv6 as IPv4).</param>
/// <param name="Reason">Free text for the operator.</param>
/// <param name="By">Who banned: an operator's name, <c>ctl</c>, or the broker itself (login-failure tracking).</param>
/// <param name="At">When the ban was made.</param>
/// <param name="Until">When it ends; from then on it matches nobody.</param>
public sealed record Ban(BanKind As, string Who, string Reason, string By, DateTimeOffset At, DateTimeOffset Until);

/// <summary>
/// A ban lifted on this node, kept until a cluster has it: while no cluster is told of its changes
/// (<see cref="BannedList.Observer"/> unset: the node had left its cluster, was never in one, or its cluster had not
/// attached yet), and while the cluster told has not written it yet (NATS unreachable), so that a restart or a leave
/// in between does not lose it.
/// </summary>
/// <param name="As">What <paramref name="Who"/> is.</param>
/// <param name="Who">The client id, user name, or address, as <see cref="BannedList.Normalize(BanKind, string)"/> spells it.</param>
/// <param name="At">When it was lifted here: a cluster's ban of the same written later wins over it.</param>
/// <param name="Until">The lifted ban's own end: past it, the lifting no longer matters and is forgotten.</param>
public sealed record LiftedBan(BanKind As, string Who, DateTimeOffset At, DateTimeOffset Until);

/// <summary>
/// EMQX's <c>emqx_banned</c>: clients refused at CONNECT by client id, user name or peer address, each ban until a
/// time. Checked on every CONNECT before authentication, so a banned client costs no password hashing.
/// </summary>
/// <remarks>
/// <para>
/// Reads never lock: the bans are an immutable dictionary keyed by (kind, who), replaced whole on every change
/// (changes are rare: an operator, or the login-failure tracker). <see cref="Find"/> on an empty list is one
/// volatile read and a count check; otherwise at most three dictionary lookups.
/// </para>
/// <para>
/// Bans lifted here (<see cref="LiftedBan"/>) are kept until a cluster takes them, also while one observes the list
/// and has not written the lifting yet (<see cref="Lifted"/>, <see cref="ForgetLifted"/>), so that joining again does not bring
/// back a ban lifted meanwhile; at most <see cref="MaxLifted"/>, each only until its ban's own end.
/// </para>
/// <para>
/// Persisted, when a path is given, as one JSON document (an array of bans, times in ISO 8601) written atomically
/// after every change, so bans survive a restart; the lifted bans likewise beside it, in <c>&lt;path&gt;.lifted</c>
/// (absent when there are none). Expired bans are dropped when the file is loaded and purged from
/// memory when a lookup meets one. A file that cannot be read is logged, naming it, and the list starts empty: a
/// damaged ban file must not keep the broker from serving.
/// </para>
/// </remarks>
public sealed partial class BannedList
{
    private static readonly Dictionary<(BanKind, string), Ban> Empty = [];

    /// <summary>Lifted bans kept for a cluster, at most; past it the one lifted longest ago is forgotten.</summary>
    internal const int MaxLifted = 10_000;

    private readonly Lock _write = new();
    private readonly TimeProvider _time;
    private readonly string? _path;
    private readonly ILogger _logger;
    private volatile Dictionary<(BanKind, string), Ban> _bans = Empty;
    private readonly Dictionary<(BanKind, string), LiftedBan> _lifted = []; // under _write

    /// <summary>Loads the bans of <paramref name="path"/> (if the file exists) that have not expired.</summary>
    /// <param name="time">The clock deciding expiry.</param>
    /// <param name="path">The file where bans persist (<c>&lt;data dir&gt;/banned</c>); null keeps them in memory only.</param>
    /// <param name="logger">Where a file that cannot be read or written is reported.</param>
    internal BannedList(TimeProvider time, string? path, ILogger? logger = null)
    {
        _time = time;
        _path = path;
        _logger = logger ?? NullLogger.Instance;
        if (path is not null && File.Exists(path))
            Load(path);
        if (path is not null && File.Exists(LiftedPath(path)))
            LoadLifted(LiftedPath(path));
    }

    /// <summary>Bans held, expired ones not yet purged included: zero means <see cref="Find"/> has nothing to do.</summary>
    internal int Count => _bans.Count;

    /// <summary>Told of the changes made on this node (not of those applied from other nodes); the cluster sets it.</summary>
    internal Cluster.IBanObserver? Observer { get; set; }

    /// <summary>Adds <paramref name="ban"/>, replacing any ban of the same (<see cref="Ban.As"/>, <see cref="Ban.Who"/>), and persists.</summary>
    /// <remarks>Does not disconnect anyone: <see cref="BrokerEngine.BanAsync"/> does that for operators' bans, and says so in <paramref name="disconnects"/>.</remarks>
    internal void Add(Ban ban, bool disconnects = false)
    {
        ban = Apply(ban);
        Observer?.BanAdded(ban, disconnects);
    }

    /// <summary>Adds a ban another node made (<see cref="Add"/> without telling <see cref="Observer"/>); returns it normalised.</summary>
    /// <remarks>A lifting of the same kept for a cluster (<see cref="Lifted"/>) is forgotten: the ban is newer.</remarks>
    internal Ban Apply(Ban ban)
    {
        ban = ban with { Who = Normalize(ban.As, ban.Who) };
        Change(bans =>
        {
            bans[(ban.As, ban.Who)] = ban;
            _lifted.Remove((ban.As, ban.Who));
            return true;
        });
        return ban;
    }

    /// <summary>Removes the ban of <paramref name="who"/> as <paramref name="kind"/>; false if there was none.</summary>
    /// <remarks>
    /// The lifting is kept (<see cref="Lifted"/>, persisted) until a cluster has it: the one this node may join, or the
    /// <see cref="Observer"/> told, which forgets it once written (<see cref="ForgetLifted"/>).
    /// </remarks>
    internal bool Remove(BanKind kind, string who)
    {
        var key = (kind, Normalize(kind, who));
        var observer = Observer;
        var removed = Change(bans =>
        {
            if (!bans.Remove(key, out var ban))
                return false;
            KeepLifted(new LiftedBan(key.Item1, key.Item2, _time.GetUtcNow(), ban.Until));
            return true;
        });
        if (!removed)
            return false;
        observer?.BanRemoved(kind, key.Item2);
        return true;
    }

    /// <summary>Removes a ban another node lifted (<see cref="Remove"/> without telling <see cref="Observer"/>).</summary>
    internal bool ApplyRemove(BanKind kind, string who)
    {
        var key = (kind, Normalize(kind, who));
        return Change(bans => bans.Remove(key));
    }

    /// <summary>The bans lifted here and not yet taken by a cluster (<see cref="LiftedBan"/>) whose ban has not ended yet.</summary>
    internal List<LiftedBan> Lifted()
    {
        var now = _time.GetUtcNow();
        var list = new List<LiftedBan>();
        lock (_write)
        {
            foreach (var lifted in _lifted.Values)
            {
                if (lifted.Until > now)
                    list.Add(lifted);
            }
        }
        return list;
    }

    /// <summary>A cluster has <paramref name="lifted"/> (written, or a later change of the same there): no longer kept, unless lifted again since.</summary>
    internal void ForgetLifted(LiftedBan lifted)
    {
        var key = (lifted.As, lifted.Who);
        Change(_ => _lifted.TryGetValue(key, out var kept) && kept == lifted && _lifted.Remove(key));
    }

    /// <summary>Under the write lock: keeps <paramref name="lifted"/>, forgetting ended ones and, past <see cref="MaxLifted"/>, the oldest.</summary>
    private void KeepLifted(LiftedBan lifted)
    {
        _lifted[(lifted.As, lifted.Who)] = lifted;
        if (_lifted.Count <= MaxLifted)
            return;
        var now = _time.GetUtcNow();
        LiftedBan? oldest = null;
        foreach (var kept in _lifted.Values)
        {
            if (kept.Until <= now)
                _lifted.Remove((kept.As, kept.Who));
            else if (oldest is null || kept.At < oldest.At)
                oldest = kept;
        }
        if (_lifted.Count > MaxLifted && oldest is not null)
            _lifted.Remove((oldest.As, oldest.Who));
    }

    /// <summary>The bans in force now, in no particular order.</summary>
    internal List<Ban> List()
    {
        var now = _time.GetUtcNow();
        var list = new List<Ban>();
        foreach (var ban in _bans.Values)
        {
            if (ban.Until > now)
                list.Add(ban);
        }
        return list;
    }

    /// <summary>The ban that refuses a client with this id, user name and address, or null; expired bans never match.</summary>
    internal Ban? Find(string clientId, string? username, IPAddress? address)
    {
        var bans = _bans;
        if (bans.Count == 0)
            return null;
        return InForce(bans, BanKind.ClientId, clientId)
            ?? (username is null ? null : InForce(bans, BanKind.Username, username))
            ?? (address is null ? null : InForce(bans, BanKind.Address, Normalize(address)));
    }

    /// <summary>The ban of <paramref name="who"/> as <paramref name="kind"/> if it has not expired; an expired one is purged.</summary>
    private Ban? InForce(Dictionary<(BanKind, string), Ban> bans, BanKind kind, string who)
    {
        if (!bans.TryGetValue((kind, who), out var ban))
            return null;
        if (ban.Until > _time.GetUtcNow())
            return ban;
        Purge(ban);
        return null;
    }

    /// <summary>EMQX 4's spelling of <paramref name="kind"/>: <c>clientid</c>, <c>username</c>, <c>peerhost</c>.</summary>
    public static string KindName(BanKind kind) => kind switch
    {
        BanKind.ClientId => "clientid",
        BanKind.Username => "username",
        _ => "peerhost",
    };

    /// <summary>Reads EMQX 4's spelling (<see cref="KindName"/>) of a ban kind.</summary>
    public static bool TryParseKind(string? text, out BanKind kind)
    {
        switch (text)
        {
            case "clientid":
                kind = BanKind.ClientId;
                return true;
            case "username":
                kind = BanKind.Username;
                return true;
            case "peerhost":
                kind = BanKind.Address;
                return true;
            default:
                kind = default;
                return false;
        }
    }

    /// <summary>The address as bans spell it: an IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) as IPv4.</summary>
    public static string Normalize(IPAddress address) => (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    /// <summary><paramref name="who"/> as bans of <paramref name="kind"/> spell it: addresses as <see cref="Normalize(IPAddress)"/>, the rest as given.</summary>
    public static string Normalize(BanKind kind, string who) =>
        kind == BanKind.Address && IPAddress.TryParse(who, out var address) ? Normalize(address) : who;

    /// <summary>Drops an expired ban a lookup met, unless it was replaced meanwhile; the file keeps it until the next change or load.</summary>
    private void Purge(Ban expired)
    {
        var key = (expired.As, expired.Who);
        Change(bans => bans.TryGetValue(key, out var current) && ReferenceEquals(current, expired) && bans.Remove(key), persist: false);
    }

    /// <summary>Copies the bans, applies <paramref name="change"/>, publishes the copy and persists it; returns what the change returned.</summary>
    private bool Change(Func<Dictionary<(BanKind, string), Ban>, bool> change, bool persist = true)
    {
        lock (_write)
        {
            var bans = new Dictionary<(BanKind, string), Ban>(_bans);
            if (!change(bans))
                return false;
            _bans = bans;
            if (persist && _path is not null)
            {
                Save(_path, bans.Values);
                SaveLifted(LiftedPath(_path));
            }
            return true;
        }
    }

    private void Load(string path)
    {
        var now = _time.GetUtcNow();
        var bans = new Dictionary<(BanKind, string), Ban>();
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                if (!TryParseKind(entry.GetProperty("as").GetString(), out var kind))
                    throw new FormatException($"unknown \"as\": {entry.GetProperty("as")}");
                var ban = new Ban(kind, entry.GetProperty("who").GetString() ?? throw new FormatException("\"who\" is null"),
                    entry.GetProperty("reason").GetString() ?? "", entry.GetProperty("by").GetString() ?? "",
                    entry.GetProperty("at").GetDateTimeOffset(), entry.GetProperty("until").GetDateTimeOffset());
                if (ban.Until > now)
                    bans[(ban.As, ban.Who)] = ban;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException
            or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            LogLoadFailed(_logger, ex, path);
            return;
        }
        _bans = bans;
    }

    private static string LiftedPath(string path) => path + ".lifted";

    /// <summary>The lifted bans kept for a cluster (<see cref="LiftedBan"/>), ended ones dropped; a file that cannot be read is logged and none are kept.</summary>
    private void LoadLifted(string path)
    {
        var now = _time.GetUtcNow();
        var lifted = new Dictionary<(BanKind, string), LiftedBan>();
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                if (!TryParseKind(entry.GetProperty("as").GetString(), out var kind))
                    throw new FormatException($"unknown \"as\": {entry.GetProperty("as")}");
                var kept = new LiftedBan(kind, entry.GetProperty("who").GetString() ?? throw new FormatException("\"who\" is null"),
                    entry.GetProperty("lifted_at").GetDateTimeOffset(), entry.GetProperty("until").GetDateTimeOffset());
                if (kept.Until > now)
                    lifted[(kept.As, kept.Who)] = kept;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException
            or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            LogLiftedLoadFailed(_logger, ex, path);
            return;
        }
        foreach (var (key, kept) in lifted)
            _lifted[key] = kept;
    }

    /// <summary>Under the write lock: the lifted bans kept for a cluster, beside the bans; no file when there are none.</summary>
    private void SaveLifted(string path)
    {
        if (_lifted.Count == 0)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                LogSaveFailed(_logger, ex, path);
            }
            return;
        }
        var now = _time.GetUtcNow();
        WriteAtomically(path, json =>
        {
            foreach (var lifted in _lifted.Values)
            {
                if (lifted.Until <= now)
                    continue;
                json.WriteStartObject();
                json.WriteString("as", KindName(lifted.As));
                json.WriteString("who", lifted.Who);
                json.WriteString("lifted_at", lifted.At);
                json.WriteString("until", lifted.Until);
                json.WriteEndObject();
            }
        });
    }

    /// <summary>Writes the bans atomically: a temporary file beside <paramref name="path"/>, flushed, renamed over it.</summary>
    private void Save(string path, IEnumerable<Ban> bans) => WriteAtomically(path, json =>
    {
        foreach (var ban in bans)
        {
            json.WriteStartObject();
            json.WriteString("as", KindName(ban.As));
            json.WriteString("who", ban.Who);
            json.WriteString("reason", ban.Reason);
            json.WriteString("by", ban.By);
            json.WriteString("at", ban.At);
            json.WriteString("until", ban.Until);
            json.WriteEndObject();
        }
    });

    /// <summary>A JSON array of what <paramref name="write"/> writes, atomically: a temporary file beside <paramref name="path"/>, flushed, renamed over it.</summary>
    private void WriteAtomically(string path, Action<Utf8JsonWriter> write)
    {
        var temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
                {
                    json.WriteStartArray();
                    write(json);
                    json.WriteEndArray();
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The ban holds in memory; it is lost at the next restart, which the log says.
            LogSaveFailed(_logger, ex, path);
            File.Delete(temp);
        }
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Error, Message = "The banned list {Path} cannot be read: starting with no bans")]
    private static partial void LogLoadFailed(ILogger logger, Exception ex, string path);

    [LoggerMessage(EventId = 62, Level = LogLevel.Error, Message = "The bans lifted while out of the cluster, {Path}, cannot be read: a cluster this node joins may bring them back")]
    private static partial void LogLiftedLoadFailed(ILogger logger, Exception ex, string path);

    [LoggerMessage(EventId = 61, Level = LogLevel.Error, Message = "The banned list {Path} cannot be written: the change holds until the broker stops")]
    private static partial void LogSaveFailed(ILogger logger, Exception ex, string path);
}
