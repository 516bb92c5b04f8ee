namespace Broker.Plugins.Auth;

/// <summary>
/// EMQX 4's SQL auth keys (<c>server</c>, the login of <see cref="DatabaseOptions"/>, the three queries, <c>password_hash</c>, <c>ssl.*</c>...), written
/// once for every SQL plugin: each binds them under its own prefix through a subclass marked
/// <c>[ConfPrefix("auth.mysql")]</c> or <c>[ConfPrefix("auth.pgsql")]</c>, whose constructor gives its backend's
/// defaults (the port) and which adds the keys only its backend has (PostgreSQL's <c>encoding</c>). Operators' keys are
/// EMQX's unchanged: <c>auth.mysql.server</c>, <c>auth.pgsql.acl_query</c>.
/// </summary>
public abstract class SqlAuthOptions : IValidatableOptions
{
    /// <summary>EMQX 4's default queries, the same for MySQL and PostgreSQL (and their <c>mqtt_user</c>/<c>mqtt_acl</c> tables).</summary>
    public const string DefaultAuthQuery = "select password from mqtt_user where username = '%u' limit 1";

    /// <inheritdoc cref="DefaultAuthQuery"/>
    public const string DefaultSuperQuery = "select is_superuser from mqtt_user where username = '%u' limit 1";

    /// <inheritdoc cref="DefaultAuthQuery"/>
    public const string DefaultAclQuery = "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'";

    /// <summary>Sets the defaults of one backend.</summary>
    /// <param name="defaultPort">Its port: the default server is 127.0.0.1 on it, and a server written without a port gets it.</param>
    protected SqlAuthOptions(int defaultPort)
    {
        DefaultPort = defaultPort;
        Server = $"127.0.0.1:{defaultPort}";
    }

    /// <summary>The backend's port, for a <see cref="Server"/> written without one. Not a key.</summary>
    public int DefaultPort { get; }

    /// <remarks>Default 127.0.0.1 on the backend's port (3306, 5432).</remarks>
    [ConfKey("server", "The server as host:port.")]
    public string Server { get; set; }

    /// <summary><c>pool</c>, <c>username</c>, <c>password</c>, <c>database</c>, <c>query_timeout</c>: the keys auth_mongo shares.</summary>
    [ConfSection("")]
    public DatabaseOptions Connection { get; } = new();

    /// <remarks>Default <see cref="DefaultAuthQuery"/>.</remarks>
    [ConfKey("auth_query", "The authentication query: its first row's password column (and salt column, when password_hash is salted, pbkdf2 or bcrypt with a salt) is the stored password. No row = unknown user: the next source decides. Empty = no authentication from this database. Placeholders %u %c %a %C %d become query parameters, never SQL text, with or without quotes around them.")]
    public string AuthQuery { get; set; } = DefaultAuthQuery;

    /// <remarks>Default sha256.</remarks>
    [ConfKey("password_hash", "How stored passwords are hashed: plain, md5, sha, sha256, sha512, bcrypt or pbkdf2,<macfun>,<iterations>,<dklen>; salted as salt,sha256 (salt first) or sha256,salt (salt last), the salt being auth_query's salt column.")]
    public string PasswordHash { get; set; } = "sha256";

    /// <remarks>Default <see cref="DefaultSuperQuery"/>.</remarks>
    [ConfKey("super_query", "The superuser query: a first column of 1 or true makes the client a superuser, allowed everything. Empty = no superusers.")]
    public string SuperQuery { get; set; } = DefaultSuperQuery;

    /// <remarks>Default <see cref="DefaultAclQuery"/>.</remarks>
    [ConfKey("acl_query", "The ACL query: rows of allow (1/0), ipaddr, username ($all = everyone), clientid, access (1 subscribe, 2 publish, 3 both) and topic (a filter, eq <filter>, %u, %c), judged in the order returned: the first row about the client whose topic matches decides. Loaded once per connection. Empty = no ACL from this database.")]
    public string AclQuery { get; set; } = DefaultAclQuery;

    /// <remarks>Default deny.</remarks>
    [ConfKey("on_error", "What a database error, timeout or outage means for the client: deny (CONNACK Server Unavailable, publish/subscribe refused) or ignore (the next source decides, then allow_anonymous / acl_nomatch).")]
    public OnError OnError { get; set; } = OnError.Deny;

    /// <remarks>Default 0s (off).</remarks>
    [ConfKey("cache_on_outage", "While the database is unreachable, use a user's last successful lookup for this long after it was made (the password is still checked); 0 = off.", Unit = ConfUnit.Duration, Min = "0s")]
    public TimeSpan CacheOnOutage { get; set; } = TimeSpan.Zero;

    /// <summary><c>ssl = on</c> and the <c>ssl.*</c> keys: the database over TLS.</summary>
    [ConfSection("ssl")]
    public SwitchedBackendTlsOptions Ssl { get; } = new();

    /// <summary>Shorthand for <see cref="Ssl"/>'s <see cref="BackendTlsOptions.Verify"/>.</summary>
    public bool SslVerify => Ssl.Verify;

    /// <summary>The host and port of <see cref="Server"/> (checked by <see cref="Validate"/>).</summary>
    public (string Host, int Port) HostAndPort() =>
        HostPort.TryParse(Server, DefaultPort, out var host, out var port, out _) ? (host, port) : throw new InvalidOperationException("validated when bound");

    /// <summary>What <see cref="AuthService"/> needs of these options.</summary>
    public AuthSettings Settings() => new(Auth.PasswordHash.Parse(PasswordHash), Connection.QueryTimeout, OnError, CacheOnOutage);

    /// <inheritdoc />
    /// <remarks>Keys are relative to the subclass's prefix, so the binder names the full key with its file and line.</remarks>
    public virtual IEnumerable<(string Key, string Error)> Validate()
    {
        if (!HostPort.TryParse(Server, DefaultPort, out _, out _, out var serverError))
            yield return ("server", serverError);
        foreach (var (key, query) in new[] { ("auth_query", AuthQuery), ("super_query", SuperQuery), ("acl_query", AclQuery) })
        {
            if (Check(() => SqlTemplate.Parse(query)) is { } error)
                yield return (key, error);
        }
        if (Check(() => Auth.PasswordHash.Parse(PasswordHash)) is { } hashError)
            yield return ("password_hash", hashError);
    }

    private static string? Check(Action parse)
    {
        try
        {
            parse();
            return null;
        }
        catch (FormatException ex)
        {
            return ex.Message;
        }
    }
}
