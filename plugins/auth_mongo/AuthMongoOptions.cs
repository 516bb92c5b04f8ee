using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthMongo;

/// <summary>How the MongoDB servers are arranged (<c>auth.mongo.type</c>).</summary>
internal enum MongoType
{
    /// <summary>One server, connected to directly.</summary>
    Single,
    /// <summary>Let the driver find out (a list of mongos or members).</summary>
    Unknown,
    /// <summary>A sharded cluster: <c>server</c> lists mongos routers.</summary>
    Sharded,
    /// <summary>A replica set named <c>rs_set_name</c>.</summary>
    Rs,
}

/// <summary>etc/plugins/auth_mongo.conf: EMQX 4's <c>auth.mongo.*</c> keys, with their defaults.</summary>
internal sealed class AuthMongoOptions : IValidatableOptions
{
    [ConfKey("auth.mongo.type", "How the servers are arranged: single, unknown, sharded or rs (replica set).")]
    public MongoType Type { get; set; } = MongoType.Single;

    [ConfKey("auth.mongo.server", "The server as host:port; for sharded, rs and unknown a comma-separated list.")]
    public string Server { get; set; } = "127.0.0.1:27017";

    [ConfKey("auth.mongo.rs_set_name", "With type = rs: the replica set's name.")]
    public string RsSetName { get; set; } = "";

    /// <summary><c>pool</c>, <c>username</c>, <c>password</c>, <c>database</c>, <c>query_timeout</c>: the keys the SQL plugins share.</summary>
    [ConfSection("auth.mongo")]
    public DatabaseOptions Connection { get; } = new();

    [ConfKey("auth.mongo.auth_source", "The database the MongoDB user is defined in.")]
    public string AuthSource { get; set; } = "mqtt";

    [ConfKey("auth.mongo.auth_query.collection", "Where users are; empty = no authentication from MongoDB.")]
    public string AuthCollection { get; set; } = "mqtt_user";

    [ConfKey("auth.mongo.auth_query.password_field", "The field holding the stored password; password,salt names the salt field too.")]
    public string PasswordField { get; set; } = "password";

    [ConfKey("auth.mongo.auth_query.password_hash", "How stored passwords are hashed: plain, md5, sha, sha256, sha512, bcrypt or pbkdf2,<macfun>,<iterations>,<dklen>; salted as salt,sha256 (salt first) or sha256,salt (salt last).")]
    public string PasswordHash { get; set; } = "sha256";

    [ConfKey("auth.mongo.auth_query.selector", "Which document is the client's: field=value pairs separated by commas, values with placeholders %u %c %a %C %d (passed as values, never parsed as a query). No document = unknown user: the next source decides.")]
    public string AuthSelector { get; set; } = "username=%u";

    [ConfKey("auth.mongo.super_query.collection", "Where superusers are marked; empty = no superusers.")]
    public string SuperCollection { get; set; } = "mqtt_user";

    [ConfKey("auth.mongo.super_query.super_field", "The field that makes a superuser when true (or 1).")]
    public string SuperField { get; set; } = "is_superuser";

    [ConfKey("auth.mongo.super_query.selector", "Which document is the client's, as auth_query.selector.")]
    public string SuperSelector { get; set; } = "username=%u";

    [ConfKey("auth.mongo.acl_query.collection", "Where ACL documents are ({username, clientid, publish: [...], subscribe: [...], pubsub: [...]}, every topic allowing); empty = no ACL from MongoDB.")]
    public string AclCollection { get; set; } = "mqtt_acl";

    [ConfKey("auth.mongo.acl_query.selector", "Which documents hold the client's ACL, as auth_query.selector. Loaded once per connection; empty = only the numbered selectors below.")]
    public string AclSelector { get; set; } = "username=%u";

    [ConfList("auth.mongo.acl_query.selector", "More ACL selectors (EMQX's acl_query.selector.N): each is a query of its own; the documents are judged in order, the unnumbered selector's first, then 1, 2 ...", Example = "username=$all")]
    public SortedDictionary<int, string> MoreAclSelectors { get; set; } = [];

    /// <summary>Every ACL selector, in the order their documents are judged.</summary>
    public IEnumerable<string> AclSelectors => (AclSelector.Length > 0 ? [AclSelector] : Array.Empty<string>()).Concat(MoreAclSelectors.Values);

    [ConfKey("auth.mongo.on_error", "What a MongoDB error, timeout or outage means for the client: deny (CONNACK Server Unavailable, publish/subscribe refused) or ignore (the next source decides, then allow_anonymous / acl_nomatch).")]
    public OnError OnError { get; set; } = OnError.Deny;

    [ConfKey("auth.mongo.cache_on_outage", "While MongoDB is unreachable, use a user's last successful lookup for this long after it was made (the password is still checked); 0 = off.", Unit = ConfUnit.Duration, Min = "0s")]
    public TimeSpan CacheOnOutage { get; set; } = TimeSpan.Zero;

    [ConfSection("auth.mongo.ssl")]
    public SwitchedBackendTlsOptions Ssl { get; } = new();

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (Type == MongoType.Rs && RsSetName.Length == 0)
            yield return ("auth.mongo.rs_set_name", "type = rs needs the replica set's name");
        var selectors = new List<(string, string)> { ("auth.mongo.auth_query.selector", AuthSelector), ("auth.mongo.super_query.selector", SuperSelector) };
        if (AclSelector.Length > 0)
            selectors.Add(("auth.mongo.acl_query.selector", AclSelector));
        selectors.AddRange(MoreAclSelectors.Select(s => ($"auth.mongo.acl_query.selector.{s.Key}", s.Value)));
        foreach (var (key, selector) in selectors)
        {
            if (Check(() => MongoSelector.Parse(selector)) is { } error)
                yield return (key, error);
        }
        if (Check(() => Auth.PasswordHash.Parse(PasswordHash)) is { } hashError)
            yield return ("auth.mongo.auth_query.password_hash", hashError);
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
