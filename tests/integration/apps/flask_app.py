"""A minimal Flask app."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "flask index, name=%s" % request.args.get("name", "none")


@app.route("/json")
def as_json():
    return jsonify(ok=True, items=[1, 2, 3], ua=request.headers.get("User-Agent"))


@app.route("/form", methods=["POST"])
def form():
    return jsonify(fields=request.form.to_dict(), n=len(request.form))


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(filename=f.filename, size=len(data), tail=data[-8:].decode("latin-1"))
