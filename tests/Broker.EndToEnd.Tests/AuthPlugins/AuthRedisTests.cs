using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>auth_redis (issue 20) against a private redis-server, with EMQX 4's keys.</summary>
public sealed class AuthRedisTests(SharedBackend<RedisServer> shared) : AuthBackendTests<RedisServer>(shared)
{
    protected override Task<RedisServer> StartServerAsync() => RedisServer.StartAsync();

    protected override Task<RedisServer> NotStartedServerAsync() => Task.FromResult(RedisServer.NotStarted());

    protected override string DefaultStored(string password) => password; // EMQX 4's auth.redis.password_hash = plain

    // query_timeout: a Redis that accepts but does not answer (frozen with SIGSTOP, deterministic where a DEBUG SLEEP
    // races the CONNECT) is given up on at the timeout: Server Unavailable, well before it thaws; answered again after.
    [Fact]
    public async Task QueryTimeout_HungRedis_RefusedAtTheTimeout()
    {
        await using var server = await RedisServer.StartAsync();
        await HungServer_RefusedAtTheTimeoutAsync(server, server.Freeze);
    }

    // auth.redis.ssl.*: Redis on TLS only, asking for a client certificate. With the CA that signed Redis's
    // certificate and a client certificate, logins work; with another CA the plugin refuses Redis's certificate and
    // never talks to it: Server Unavailable, and the log says why.
    [Fact]
    public async Task Tls_VerifiedServerAndClientCertificate_OtherCaRefused()
    {
        using var certificates = TestCertificates.Create();
        await using var server = await RedisServer.StartAsync(certificates);
        await server.AddUserAsync("alice", "secret");
        await using (var broker = await StartBrokerAsync(server))
        {
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret"));
            Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "wrong"));
        }

        await using var distrustful = await StartBrokerAsync(server,
            configure: o => o.PluginConf["auth_redis"] = server.Conf.Replace(certificates.CaFile, certificates.OtherCaFile, StringComparison.Ordinal));
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(distrustful, "alice", "secret"));
        await distrustful.WaitForLogAsync(l => l.Contains("certificate CN=localhost was refused: not signed by the CA of ssl.cacertfile", StringComparison.Ordinal),
            "the TLS refusal logged with its reason");
    }

    // The ACL hash's values: 1 subscribe, 2 publish, 3 both; anything else grants nothing.
    [Fact]
    public async Task AclHash_AccessValues()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("alice", "secret");
        await server.AllowAsync("alice", "s/#", 1);
        await server.AllowAsync("alice", "p/#", 2);
        await server.AllowAsync("alice", "b/%u/#", 3);
        await server.AllowAsync("alice", "x/#", 7);
        await using var broker = await StartBrokerAsync(server);

        Assert.Equal([0x01, 0x80, 0x01, 0x80, 0x80], await Backends.SubackAsync(broker, "alice", "secret", "s/1", "p/1", "b/alice/1", "b/bob/1", "x/1"));
    }
}
