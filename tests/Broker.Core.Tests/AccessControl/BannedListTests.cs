using System.Net;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Broker.Core.Tests.AccessControl;

public sealed class BannedListTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => _dir.Dispose();

    private Ban Ban(BanKind kind, string who, TimeSpan? lasting = null) =>
        new(kind, who, "test", "tests", _time.GetUtcNow(), _time.GetUtcNow() + (lasting ?? TimeSpan.FromMinutes(5)));

    [Fact]
    public void Find_EmptyList_MatchesNobody()
    {
        var list = new BannedList(_time, null);

        Assert.Null(list.Find("c1", "alice", IPAddress.Loopback));
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void Find_ByClientIdUsernameOrAddress_ReturnsTheMatchingBan()
    {
        var list = new BannedList(_time, null);
        list.Add(Ban(BanKind.ClientId, "bad-client"));
        list.Add(Ban(BanKind.Username, "mallory"));
        list.Add(Ban(BanKind.Address, "10.0.0.7"));

        Assert.Equal(BanKind.ClientId, list.Find("bad-client", null, null)?.As);
        Assert.Equal(BanKind.Username, list.Find("c1", "mallory", null)?.As);
        Assert.Equal(BanKind.Address, list.Find("c1", "alice", IPAddress.Parse("10.0.0.7"))?.As);
        Assert.Null(list.Find("c1", "alice", IPAddress.Parse("10.0.0.8")));
        // Exact, case-sensitive names: a client id is not a user name.
        Assert.Null(list.Find("Bad-Client", "bad-client", null));
    }

    [Fact]
    public void Find_IPv4MappedAddress_MatchesTheIPv4Ban()
    {
        var list = new BannedList(_time, null);
        list.Add(Ban(BanKind.Address, "127.0.0.1"));

        // A dual-stack socket sees an IPv4 peer as ::ffff:127.0.0.1.
        Assert.NotNull(list.Find("c1", null, IPAddress.Parse("::ffff:127.0.0.1")));
    }

    [Fact]
    public void Add_IPv4MappedAddress_IsKeptAsIPv4()
    {
        var list = new BannedList(_time, null);
        list.Add(Ban(BanKind.Address, "::ffff:10.1.2.3"));

        Assert.Equal("10.1.2.3", Assert.Single(list.List()).Who);
        Assert.NotNull(list.Find("c1", null, IPAddress.Parse("10.1.2.3")));
        Assert.True(list.Remove(BanKind.Address, "::ffff:10.1.2.3"));
    }

    [Fact]
    public void Add_SameKindAndWho_ReplacesTheBan()
    {
        var list = new BannedList(_time, null);
        list.Add(Ban(BanKind.ClientId, "c1"));
        list.Add(Ban(BanKind.ClientId, "c1", TimeSpan.FromHours(1)) with { Reason = "again" });

        var ban = Assert.Single(list.List());
        Assert.Equal("again", ban.Reason);
    }

    [Fact]
    public void Remove_PresentAndAbsent_SaysWhichAndUnbans()
    {
        var list = new BannedList(_time, null);
        list.Add(Ban(BanKind.Username, "mallory"));

        Assert.False(list.Remove(BanKind.ClientId, "mallory"));
        Assert.True(list.Remove(BanKind.Username, "mallory"));
        Assert.False(list.Remove(BanKind.Username, "mallory"));
        Assert.Null(list.Find("c1", "mallory", null));
    }

    [Fact]
    public void Find_AfterUntil_NoLongerMatchesAndIsPurged()
    {
        var list = new BannedList(_time, null);
        list.Add(Ban(BanKind.ClientId, "c1", TimeSpan.FromSeconds(10)));

        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.NotNull(list.Find("c1", null, null));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(list.List());
        Assert.Equal(1, list.Count);
        Assert.Null(list.Find("c1", null, null));
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void Find_ExpiredClientIdBan_StillFindsTheUsernameBan()
    {
        var list = new BannedList(_time, null);
        list.Add(Ban(BanKind.ClientId, "c1", TimeSpan.FromSeconds(10)));
        list.Add(Ban(BanKind.Username, "mallory", TimeSpan.FromHours(1)));

        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(BanKind.Username, list.Find("c1", "mallory", null)?.As);
    }

    [Fact]
    public void Constructor_SavedFile_LoadsTheBansInForceAndDropsExpiredOnes()
    {
        var path = _dir.File("banned");
        var list = new BannedList(_time, path);
        list.Add(Ban(BanKind.ClientId, "c1", TimeSpan.FromHours(1)) with { Reason = "flooding, \"quoted\"" });
        list.Add(Ban(BanKind.Username, "mallory", TimeSpan.FromMinutes(1)));
        list.Add(Ban(BanKind.Address, "::ffff:192.0.2.1", TimeSpan.FromHours(1)));

        _time.Advance(TimeSpan.FromMinutes(2));
        var loaded = new BannedList(_time, path);

        Assert.Equal(2, loaded.Count);
        Assert.Equal(
            list.List().Where(b => b.As != BanKind.Username).OrderBy(b => b.As),
            loaded.List().OrderBy(b => b.As));
        Assert.NotNull(loaded.Find("x", null, IPAddress.Parse("192.0.2.1")));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    [Fact]
    public void Remove_Persisted_IsGoneAfterReload()
    {
        var path = _dir.File("banned");
        var list = new BannedList(_time, path);
        list.Add(Ban(BanKind.ClientId, "c1"));
        list.Add(Ban(BanKind.ClientId, "c2"));
        list.Remove(BanKind.ClientId, "c1");

        Assert.Equal("c2", Assert.Single(new BannedList(_time, path).List()).Who);
    }

    // A node out of its cluster (no observer) keeps what it lifted, across a restart, so that joining again does not
    // bring the ban back from the cluster's list.
    [Fact]
    public void Remove_WithoutObserver_KeepsTheLiftingAcrossReload_UntilForgottenOrBannedAgain()
    {
        var path = _dir.File("banned");
        var list = new BannedList(_time, path);
        list.Add(Ban(BanKind.ClientId, "c1", TimeSpan.FromHours(1)));
        list.Add(Ban(BanKind.Address, "::ffff:192.0.2.1", TimeSpan.FromHours(1)));
        list.Add(Ban(BanKind.Username, "u1", TimeSpan.FromHours(1)));
        _time.Advance(TimeSpan.FromMinutes(1));
        list.Remove(BanKind.ClientId, "c1");
        list.Remove(BanKind.Address, "::ffff:192.0.2.1");
        list.Remove(BanKind.Username, "u1");
        list.Add(Ban(BanKind.Username, "u1")); // banned again here: nothing lifted to send

        var reloaded = new BannedList(_time, path);
        var lifted = reloaded.Lifted().OrderBy(l => l.As).ToList();
        Assert.Equal(
            [new LiftedBan(BanKind.ClientId, "c1", _time.GetUtcNow(), _time.GetUtcNow() + TimeSpan.FromMinutes(59)),
             new LiftedBan(BanKind.Address, "192.0.2.1", _time.GetUtcNow(), _time.GetUtcNow() + TimeSpan.FromMinutes(59))],
            lifted);

        reloaded.ForgetLifted(lifted[0]);
        Assert.Equal([lifted[1]], new BannedList(_time, path).Lifted());
        reloaded.ForgetLifted(lifted[1]);
        Assert.Empty(new BannedList(_time, path).Lifted());
        Assert.False(File.Exists(path + ".lifted"));
    }

    // A node in a cluster tells the cluster and also keeps the lifting, across a restart, until the cluster has written
    // it (ForgetLifted): a node that stops or leaves while NATS is unreachable must not get the ban back from the
    // cluster's list when it returns.
    [Fact]
    public void Remove_WithObserver_ToldAndKeptAcrossReload_UntilForgotten()
    {
        var path = _dir.File("banned");
        var list = new BannedList(_time, path);
        var observer = new RecordingObserver();
        list.Observer = observer;
        list.Add(Ban(BanKind.ClientId, "c1", TimeSpan.FromHours(1)));

        list.Remove(BanKind.ClientId, "c1");

        Assert.Equal(["removed clientid c1"], observer.Changes.Where(c => c.StartsWith("removed", StringComparison.Ordinal)));
        var kept = Assert.Single(new BannedList(_time, path).Lifted());
        Assert.Equal(new LiftedBan(BanKind.ClientId, "c1", _time.GetUtcNow(), _time.GetUtcNow() + TimeSpan.FromHours(1)), kept);
        list.ForgetLifted(kept);
        Assert.Empty(new BannedList(_time, path).Lifted());
    }

    [Fact]
    public void Lifted_AfterTheBansEnd_IsForgotten()
    {
        var path = _dir.File("banned");
        var list = new BannedList(_time, path);
        list.Add(Ban(BanKind.ClientId, "c1", TimeSpan.FromMinutes(10)));
        list.Remove(BanKind.ClientId, "c1");
        Assert.Single(list.Lifted());

        _time.Advance(TimeSpan.FromMinutes(10));

        Assert.Empty(list.Lifted());
        Assert.Empty(new BannedList(_time, path).Lifted());
    }

    [Fact]
    public void Lifted_PastTheLimit_ForgetsTheOldest()
    {
        var list = new BannedList(_time, null);
        for (var i = 0; i <= BannedList.MaxLifted; i++)
        {
            list.Add(Ban(BanKind.ClientId, "c" + i));
            list.Remove(BanKind.ClientId, "c" + i);
            _time.Advance(TimeSpan.FromMilliseconds(1));
        }

        var lifted = list.Lifted();
        Assert.Equal(BannedList.MaxLifted, lifted.Count);
        Assert.DoesNotContain(lifted, l => l.Who == "c0");
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"as\":\"clientid\"}")]
    [InlineData("[{\"as\":\"hostname\",\"who\":\"x\",\"reason\":\"\",\"by\":\"\",\"at\":\"2026-01-01T00:00:00Z\",\"until\":\"2026-01-02T00:00:00Z\"}]")]
    [InlineData("[{\"as\":\"clientid\",\"who\":\"x\"}]")]
    [InlineData("")]
    public void Constructor_CorruptFile_LogsTheFileAndStartsEmpty(string content)
    {
        var path = _dir.File("banned");
        File.WriteAllText(path, content);
        var logger = new ListLogger();

        var list = new BannedList(_time, path, logger);

        Assert.Equal(0, list.Count);
        var line = Assert.Single(logger.Lines);
        Assert.Contains(path, line, StringComparison.Ordinal);
        // Still usable, and the next change rewrites the file whole.
        list.Add(Ban(BanKind.ClientId, "c1"));
        Assert.Single(new BannedList(_time, path).List());
    }

    [Fact]
    public async Task Connect_BannedClientId_RefusedBeforeAuthenticationWithBanned()
    {
        await using var broker = new TestBroker();
        var authenticated = 0;
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, _ =>
        {
            Interlocked.Increment(ref authenticated);
            return ValueTask.FromResult(HookResult.Continue);
        });
        broker.Engine.Banned.Add(new Ban(BanKind.ClientId, "bad", "", "", broker.Time.GetUtcNow(), broker.Time.GetUtcNow().AddMinutes(5)));

        // MQTT 5 section 3.2.2.2: CONNACK reason code 0x8A Banned.
        await broker.ConnectAsync("bad", expect: MqttReasonCode.Banned);
        await broker.ConnectAsync("good");

        Assert.Equal(1, authenticated);
        Assert.Equal(1, broker.Engine.Metrics.RefusedBanned);
    }

    [Fact]
    public async Task Connect_V311BannedAddress_RefusedNotAuthorized()
    {
        await using var broker = new TestBroker();
        broker.Engine.Banned.Add(new Ban(BanKind.Address, "127.0.0.1", "", "", broker.Time.GetUtcNow(), broker.Time.GetUtcNow().AddMinutes(5)));

        // MQTT 3.1.1 has no Banned: return code 5, not authorized.
        await broker.ConnectAsync("c1", MqttProtocolVersion.V311, expect: MqttReasonCode.NotAuthorized);
    }

    [Fact]
    public async Task BanAsync_ConnectedUsername_DisconnectsOnlyMatchingClients()
    {
        await using var broker = new TestBroker();
        var mallory = await broker.ConnectAsync("m1", configure: c => c.Username = "mallory");
        var alice = await broker.ConnectAsync("a1", configure: c => c.Username = "alice");

        var closed = await broker.Engine.BanAsync(new Ban(BanKind.Username, "mallory", "", "", broker.Time.GetUtcNow(), broker.Time.GetUtcNow().AddMinutes(5)));

        Assert.Equal(1, closed);
        // 0x8A is not a DISCONNECT reason code (MQTT 5 section 3.14.2.1): the operator's action is 0x98.
        var disconnect = await mallory.ReceiveAsync<MqttDisconnectPacket>();
        Assert.Equal(MqttReasonCode.AdministrativeAction, disconnect.ReasonCode);
        Assert.NotNull(alice.Channel.Client);
        await broker.ConnectAsync("m2", configure: c => c.Username = "mallory", expect: MqttReasonCode.Banned);
    }

    private sealed class RecordingObserver : Broker.Core.Cluster.IBanObserver
    {
        public List<string> Changes { get; } = [];

        public void BanAdded(Ban ban, bool disconnects) => Changes.Add($"added {BannedList.KindName(ban.As)} {ban.Who}");

        public void BanRemoved(BanKind kind, string who) => Changes.Add($"removed {BannedList.KindName(kind)} {who}");
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
                Lines.Add(formatter(state, exception));
        }
    }
}
