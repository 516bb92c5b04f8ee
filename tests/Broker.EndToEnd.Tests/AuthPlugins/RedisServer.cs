using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// A private Debian <c>redis-server</c> for one test class (or one test that kills, freezes or needs it on TLS): a free port on 127.0.0.1, a temporary directory, nothing saved.
/// It can be killed and started again on the same port, as a Redis that goes away and comes back, or frozen
/// (SIGSTOP), as one that accepts but never answers.
/// </summary>
public sealed class RedisServer : IAuthBackendServer
{
    private readonly string _directory = Directory.CreateTempSubdirectory("broker-redis-").FullName;
    private ChildProcess? _process;

    private readonly TestCertificates? _tls;

    private RedisServer(int port, TestCertificates? tls = null)
    {
        Port = port;
        _tls = tls;
    }

    public int Port { get; }

    public string Address => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Starts one, or fails naming the Debian package.</summary>
    /// <summary>Starts one, or fails naming the Debian package. With <paramref name="tls"/>: TLS only, client certificates required.</summary>
    public static async Task<RedisServer> StartAsync(TestCertificates? tls = null)
    {
        var server = new RedisServer(FreePorts.Next(), tls);
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>A port where no Redis listens (for "down at start"); <see cref="StartProcessAsync"/> brings it up.</summary>
    public static RedisServer NotStarted() => new(FreePorts.Next());

    public async Task StartProcessAsync()
    {
        var executable = Tools.Require("redis-server", "redis-server");
        string[] listen = _tls is null
            ? ["--port", Port.ToString(CultureInfo.InvariantCulture)]
            : ["--port", "0", "--tls-port", Port.ToString(CultureInfo.InvariantCulture), "--tls-cert-file", _tls.ServerCertFile,
               "--tls-key-file", _tls.ServerKeyFile, "--tls-ca-cert-file", _tls.CaFile, "--tls-auth-clients", "yes"];
        _process = ChildProcess.Start(executable,
        [
            .. listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory, "--protected-mode", "no",
        ]);
        await _process.WaitForLineAsync(l => l.Contains("Ready to accept connections", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "redis-server ready");
    }

    /// <summary>Kills it (SIGKILL): connections drop, nothing is said goodbye.</summary>
    public async Task KillAsync() => _process = await Backends.KillAsync(_process);

    public string Plugin => "auth_redis";

    public string Conf => $"auth.redis.server = {Address}\n" + (_tls is null ? "" :
        $"auth.redis.ssl = on\nauth.redis.ssl.cacertfile = {_tls.CaFile}\nauth.redis.ssl.certfile = {_tls.ClientCertFile}\n"
        + $"auth.redis.ssl.keyfile = {_tls.ClientKeyFile}\nauth.redis.ssl.server_name_indication = localhost\n");

    public string SaltConf => "auth.redis.auth_cmd = HMGET mqtt_user:%u password salt\n";

    public Task AddUserAsync(string user, string stored, string? salt = null, bool superuser = false) =>
        CliAsync(["HSET", "mqtt_user:" + user, "password", stored, "is_superuser", superuser ? "1" : "0", .. salt is null ? Array.Empty<string>() : ["salt", salt]]);

    public Task ResetAsync() => CliAsync("FLUSHALL");

    public Task AllowAsync(string user, string topic, int access) =>
        CliAsync("HSET", "mqtt_acl:" + user, topic, access.ToString(CultureInfo.InvariantCulture));

    /// <summary>Freezes (SIGSTOP) or thaws (SIGCONT) the server: connections stay open, answers stop: a hung server.</summary>
    public void Freeze(bool frozen) => _process!.Signal(frozen ? "STOP" : "CONT");

    /// <summary>Runs <c>redis-cli</c> with <paramref name="arguments"/> (one argument each, no shell) and returns its output.</summary>
    public Task<string> CliAsync(params string[] arguments) =>
        Backends.RunAsync(Tools.Require("redis-cli", "redis-tools"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture),
            .. _tls is null ? Array.Empty<string>() : ["--tls", "--cacert", _tls.CaFile, "--cert", _tls.ClientCertFile, "--key", _tls.ClientKeyFile],
            .. arguments]);

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
