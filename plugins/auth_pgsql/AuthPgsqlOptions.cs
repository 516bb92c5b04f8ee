using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthPgsql;

/// <summary>etc/plugins/auth_pgsql.conf: EMQX 4's <c>auth.pgsql.*</c> keys, with their defaults.</summary>
internal sealed class AuthPgsqlOptions : IValidatableOptions
{
    [ConfKey("auth.pgsql.server", "The server as host:port.")]
    public string Server { get; set; } = "127.0.0.1:5432";

    [ConfKey("auth.pgsql.pool", "At most this many connections to PostgreSQL.", Min = "1")]
    public int Pool { get; set; } = 8;

    [ConfKey("auth.pgsql.username", "The PostgreSQL user.")]
    public string Username { get; set; } = "root";

    [ConfKey("auth.pgsql.password", "Its password; empty = none.")]
    public string Password { get; set; } = "";

    [ConfKey("auth.pgsql.database", "The database holding mqtt_user and mqtt_acl.")]
    public string Database { get; set; } = "mqtt";

    [ConfKey("auth.pgsql.encoding", "The client encoding.")]
    public string Encoding { get; set; } = "utf8";

    [ConfKey("auth.pgsql.query_timeout", "How long one query may take; it is cancelled after and the client is judged by on_error.", Unit = ConfUnit.Duration, Min = "10ms")]
    public TimeSpan QueryTimeout { get; set; } = TimeSpan.FromSeconds(5);

    [ConfKey("auth.pgsql.auth_query", "The authentication query: its first row's password column (and salt column, when password_hash is salted, pbkdf2 or bcrypt with a salt) is the stored password. No row = unknown user: the next source decides. Empty = no authentication from PostgreSQL. Placeholders %u %c %a %C %d become query parameters, never SQL text, with or without quotes around them.")]
    public string AuthQuery { get; set; } = "select password from mqtt_user where username = '%u' limit 1";

    [ConfKey("auth.pgsql.password_hash", "How stored passwords are hashed: plain, md5, sha, sha256, sha512, bcrypt or pbkdf2,<macfun>,<iterations>,<dklen>; salted as salt,sha256 (salt first) or sha256,salt (salt last), the salt being auth_query's salt column.")]
    public string PasswordHash { get; set; } = "sha256";

    [ConfKey("auth.pgsql.super_query", "The superuser query: a first column of 1 or true makes the client a superuser, allowed everything. Empty = no superusers.")]
    public string SuperQuery { get; set; } = "select is_superuser from mqtt_user where username = '%u' limit 1";

    [ConfKey("auth.pgsql.acl_query", "The ACL query: rows of allow (1/0), ipaddr, username ($all = everyone), clientid, access (1 subscribe, 2 publish, 3 both) and topic (a filter, eq <filter>, %u, %c), judged in the order returned: the first row about the client whose topic matches decides. Loaded once per connection. Empty = no ACL from PostgreSQL.")]
    public string AclQuery { get; set; } = "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'";

    [ConfKey("auth.pgsql.on_error", "What a PostgreSQL error, timeout or outage means for the client: deny (CONNACK Server Unavailable, publish/subscribe refused) or ignore (the next source decides, then allow_anonymous / acl_nomatch).")]
    public OnError OnError { get; set; } = OnError.Deny;

    [ConfKey("auth.pgsql.cache_on_outage", "While PostgreSQL is unreachable, use a user's last successful lookup for this long after it was made (the password is still checked); 0 = off.", Unit = ConfUnit.Duration, Min = "0s")]
    public TimeSpan CacheOnOutage { get; set; } = TimeSpan.Zero;

    [ConfKey("auth.pgsql.ssl", "Connect to PostgreSQL over TLS (on/off); the ssl.* keys below apply when on.")]
    public bool SslEnable { get; set; }

    [ConfKey("auth.pgsql.ssl.cacertfile", "PEM file of the CA that signed the server's certificate; empty = the system's trusted roots.")]
    public string SslCaCertFile { get; set; } = "";

    [ConfKey("auth.pgsql.ssl.certfile", "PEM client certificate, when the server asks for one (with keyfile).")]
    public string SslCertFile { get; set; } = "";

    [ConfKey("auth.pgsql.ssl.keyfile", "PEM key of certfile.")]
    public string SslKeyFile { get; set; } = "";

    [ConfKey("auth.pgsql.ssl.verify", "Check the server's certificate (chain and host name). Turn off only for testing.")]
    public bool SslVerify { get; set; } = true;

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        foreach (var (key, query) in new[] { ("auth.pgsql.auth_query", AuthQuery), ("auth.pgsql.super_query", SuperQuery), ("auth.pgsql.acl_query", AclQuery) })
        {
            if (Check(() => SqlTemplate.Parse(query)) is { } error)
                yield return (key, error);
        }
        if (Check(() => Auth.PasswordHash.Parse(PasswordHash)) is { } hashError)
            yield return ("auth.pgsql.password_hash", hashError);
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
