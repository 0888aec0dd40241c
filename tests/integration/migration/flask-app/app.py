"""A Flask app as small as its uwsgi.ini."""
import hashlib
import os

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return jsonify(app="flask", path=request.path, scheme=request.scheme, host=request.host,
                   remote=request.remote_addr, greeting=os.environ.get("GREETING"),
                   cwd=os.getcwd(), pid=os.getpid())


@app.route("/upload", methods=["POST"])
def upload():
    data = request.get_data()
    return jsonify(len=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.route("/form", methods=["POST"])
def form():
    return jsonify(fields=request.form.to_dict())
