using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// An EMQX-style auth service for auth_http (tests/Broker.EndToEnd.Tests/AuthPlugins/AuthHttpTests.cs, bench/auth.sh).
//
//   auth-http-service --port P [--cert server.pem --key server.key [--client-ca ca.pem]]
//
// /mqtt/auth       200 for alice/secret and for the bench fleet dev<n>/pw<n>; 401 otherwise
// /mqtt/superuser  200 for root; 403 otherwise
// /mqtt/acl        200 for topics under allowed/ or bench/; 403 otherwise
// Parameters come as a form, JSON or the query string (GET or POST). With --cert it serves HTTPS only; with --client-ca
// it also requires a client certificate signed by that CA. Prints "auth service ready" once listening; counts the
// requests it answered, printed on stdout when it stops.
var options = ParseArguments(args);
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port, listen =>
{
    if (options.CertFile is null)
        return;
    listen.UseHttps(https =>
    {
        https.ServerCertificate = X509Certificate2.CreateFromPemFile(options.CertFile, options.KeyFile);
        if (options.ClientCaFile is null)
            return;
        var ca = X509CertificateLoader.LoadCertificateFromFile(options.ClientCaFile);
        https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
        https.ClientCertificateValidation = (certificate, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        };
    });
}));
var app = builder.Build();
long requests = 0;

app.MapMethods("/mqtt/auth", ["GET", "POST"], async (HttpRequest request) =>
{
    Interlocked.Increment(ref requests);
    var p = await ReadParametersAsync(request);
    var user = p.GetValueOrDefault("username", "");
    var password = p.GetValueOrDefault("password", "");
    var allowed = (user == "alice" && password == "secret")
        || (user.StartsWith("dev", StringComparison.Ordinal) && int.TryParse(user.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            && password == "pw" + n.ToString(CultureInfo.InvariantCulture));
    return Results.StatusCode(allowed ? 200 : 401);
});
app.MapMethods("/mqtt/superuser", ["GET", "POST"], async (HttpRequest request) =>
{
    Interlocked.Increment(ref requests);
    var p = await ReadParametersAsync(request);
    return Results.StatusCode(p.GetValueOrDefault("username") == "root" ? 200 : 403);
});
app.MapMethods("/mqtt/acl", ["GET", "POST"], async (HttpRequest request) =>
{
    Interlocked.Increment(ref requests);
    var topic = (await ReadParametersAsync(request)).GetValueOrDefault("topic", "");
    return Results.StatusCode(topic.StartsWith("allowed/", StringComparison.Ordinal) || topic.StartsWith("bench/", StringComparison.Ordinal) ? 200 : 403);
});

app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine("auth service ready"));
await app.RunAsync();
Console.WriteLine($"requests {Interlocked.Read(ref requests)}");

static async Task<Dictionary<string, string>> ReadParametersAsync(HttpRequest request)
{
    var values = request.Query.ToDictionary(q => q.Key, q => q.Value.ToString());
    if (request.HasFormContentType)
    {
        foreach (var (key, value) in await request.ReadFormAsync())
            values[key] = value.ToString();
    }
    else if (request.HasJsonContentType())
    {
        using var json = await JsonDocument.ParseAsync(request.Body);
        foreach (var property in json.RootElement.EnumerateObject())
            values[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
    }
    return values;
}

static Options ParseArguments(string[] args)
{
    var options = new Options();
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        switch (args[i])
        {
            case "--port": options.Port = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
            case "--cert": options.CertFile = args[i + 1]; break;
            case "--key": options.KeyFile = args[i + 1]; break;
            case "--client-ca": options.ClientCaFile = args[i + 1]; break;
            default: throw new ArgumentException($"unknown option {args[i]}");
        }
    }
    return options;
}

internal sealed class Options
{
    public int Port { get; set; }
    public string? CertFile { get; set; }
    public string? KeyFile { get; set; }
    public string? ClientCaFile { get; set; }
}
